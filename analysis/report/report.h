// bin/report's page: the whole study (analysis/report/study.h) as sections of one self-contained HTML
// page, and the files written: OUT/index.html and OUT/figures.json (each image's id, title and the
// pixel size it was drawn at, which the browser check compares with what the browser decoded).
#pragma once
#include <string>

#include "analysis/report/page.h"
#include "analysis/report/study.h"

namespace cvg::report {

// Every section, in the page's order. A section that throws becomes a notice, never a missing page.
Page build_page(const Study& s);
// Writes OUT/index.html and OUT/figures.json atomically (OUT created when missing).
void write_report(const std::string& out, const Page& page);

}  // namespace cvg::report
