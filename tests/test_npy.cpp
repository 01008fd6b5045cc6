#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/match/match.h"
#include "base/npy.h"
#include "base/io.h"
#include "tests/check.h"

using namespace cvg;

namespace {

// Files go to one folder, removed when the test binary exits.
std::string temp_path(const std::string& name) {
  static test::ScratchDir dir("npy");
  return dir / name;
}

// A .npy file assembled by hand (the way numpy writes it), so the reader is checked against the
// format rather than against our own writer.
std::vector<char> handmade(const std::string& dict, const void* data, size_t bytes, int major = 1) {
  size_t prefix = major == 1 ? 10 : 12;
  std::string h = dict;
  while ((prefix + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::vector<char> f = {'\x93', 'N', 'U', 'M', 'P', 'Y', (char)major, 0};
  for (size_t k = 0; k < prefix - 8; ++k) f.push_back((char)((h.size() >> (8 * k)) & 0xff));
  f.insert(f.end(), h.begin(), h.end());
  const char* p = static_cast<const char*>(data);
  f.insert(f.end(), p, p + bytes);
  return f;
}

std::string error_of(const std::vector<char>& file) {
  try {
    parse_npy(file, "x.npy");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

template <class T>
void round_trip(const std::vector<size_t>& shape, const char* dtype) {
  size_t n = 1;
  for (size_t d : shape) n *= d;
  std::vector<T> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = (T)((double)k * 1.5 - 7);
  std::string path = temp_path(std::string("rt_") + dtype + "_" + std::to_string(shape.size()) + ".npy");
  write_npy(path, v.data(), shape);
  NpyArray a = read_npy(path);
  CHECK(a.dtype == dtype);
  CHECK(a.shape == shape);
  REQUIRE(a.bytes.size() == n * sizeof(T));
  // memcmp of empty arrays would get null pointers (undefined even for length 0, UBSan says so)
  CHECK((a.bytes.empty() || std::memcmp(a.bytes.data(), v.data(), a.bytes.size()) == 0));
  std::vector<double> d = a.to_double();
  for (size_t k = 0; k < n; ++k) CHECK(d[k] == (double)v[k]);
  // The header (magic, version, length, dict) ends on a 64-byte boundary with a newline.
  std::vector<char> raw = read_file(path);
  size_t header_end = 10 + ((unsigned char)raw[8] | ((unsigned char)raw[9] << 8));
  CHECK(raw[6] == 1);
  CHECK(header_end % 64 == 0);
  CHECK(raw[header_end - 1] == '\n');
  CHECK(raw.size() == header_end + n * sizeof(T));
}

}  // namespace

TEST_CASE("npy: every dtype round-trips through write and read, with 64-byte aligned headers") {
  for (auto shape : std::vector<std::vector<size_t>>{{}, {0}, {5}, {3, 4}, {2, 3, 4}, {1, 1, 1, 7}}) {
    round_trip<float>(shape, "<f4");
    round_trip<double>(shape, "<f8");
    round_trip<int32_t>(shape, "<i4");
    round_trip<int64_t>(shape, "<i8");
  }
}

TEST_CASE("npy: reads files laid out as numpy writes them, versions 1.0 and 2.0, uint8") {
  const double d[6] = {1, 2, 3, 4, 5, 6.5};
  NpyArray a = parse_npy(handmade("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d, sizeof d), "a");
  CHECK(a.shape == std::vector<size_t>{2, 3});
  CHECK(a.to_float() == std::vector<float>{1, 2, 3, 4, 5, 6.5f});
  NpyArray b = parse_npy(handmade("{'descr': '<f8', 'fortran_order': False, 'shape': (6,), }", d, sizeof d, 2), "b");
  CHECK(b.shape == std::vector<size_t>{6});
  CHECK(b.to_double()[5] == 6.5);
  const unsigned char u[3] = {0, 7, 255};
  NpyArray c = parse_npy(handmade("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u, 3), "c");
  CHECK(c.to_double() == std::vector<double>{0, 7, 255});
  // Keys in another order, double quotes, no trailing comma, a scalar.
  const float f = 2.5f;
  NpyArray e = parse_npy(handmade("{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f4\"}", &f, 4), "e");
  CHECK(e.shape.empty());
  CHECK(e.numel() == 1);
  CHECK(e.to_double()[0] == 2.5);
}

TEST_CASE("npy: Fortran-order and big-endian files are read in C order, little-endian") {
  // numpy.save of a transposed array writes Fortran order (first index fastest); '>' dtypes are
  // big-endian. Element (i, j, k) of a [2, 3, 4] array holds 100 i + 10 j + k.
  const std::vector<size_t> shape = {2, 3, 4};
  std::vector<double> want, fortran;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) want.push_back(100 * i + 10 * j + k);
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) fortran.push_back(100 * i + 10 * j + k);
  auto swapped = [](std::vector<double> v) {
    for (double& d : v) std::reverse(reinterpret_cast<char*>(&d), reinterpret_cast<char*>(&d) + 8);
    return v;
  };
  const std::string dims = "'shape': (2, 3, 4), }";
  auto read = [&](const std::string& descr, bool f_order, const std::vector<double>& data) {
    const std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (f_order ? "True" : "False") + ", " + dims;
    const std::vector<char> file = handmade(dict, data.data(), 8 * data.size());
    NpyArray a = parse_npy(file, "a");
    const std::string path = temp_path("layout.npy");
    write_file_atomic(path, file.data(), file.size());
    NpyArray b = read_npy(path);
    CHECK(a.dtype == "<f8");
    CHECK(a.shape == shape);
    CHECK(b.bytes == a.bytes);
    return a.to_double();
  };
  CHECK(read("<f8", true, fortran) == want);
  CHECK(read(">f8", false, swapped(want)) == want);
  CHECK(read(">f8", true, swapped(fortran)) == want);
  // A big-endian integer, and one-byte types whatever their order mark.
  const uint8_t be_i4[8] = {0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 2};  // -2, 258
  CHECK(parse_npy(handmade("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", be_i4, 8), "i").to_double() ==
        std::vector<double>{-2, 258});
  CHECK(parse_npy(handmade("{'descr': '>u1', 'fortran_order': True, 'shape': (2,), }", be_i4 + 6, 2), "u").to_double() ==
        std::vector<double>{1, 2});
  // bin/match's reader: a Fortran-order matrix is converted, not mapped in place.
  const double m[6] = {1, 4, 2, 5, 3, 6};  // [[1, 2, 3], [4, 5, 6]] in Fortran order
  std::string path = temp_path("fortran.npy");
  std::vector<char> file = handmade("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", m, sizeof m);
  write_file_atomic(path, file.data(), file.size());
  NpyMatrix x = load_matrix_npy(path);
  CHECK((x.n == 2 && x.m == 3 && !x.converted.empty()));
  CHECK(std::vector<double>(x.data, x.data + 6) == std::vector<double>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("npy: corrupt or unsupported files are rejected with the file name and the reason") {
  const float x[4] = {1, 2, 3, 4};
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  REQUIRE(error_of(handmade(ok, x, sizeof x)).empty());

  std::vector<char> bad_magic = handmade(ok, x, sizeof x);
  bad_magic[1] = 'X';
  CHECK(error_of(bad_magic).find("x.npy: not a .npy file") == 0);
  CHECK(error_of({'\x93', 'N', 'U'}).find("bad magic") != std::string::npos);
  CHECK(error_of(handmade(ok, x, sizeof x - 1)).find("truncated data") != std::string::npos);
  CHECK(error_of(handmade(ok, x, 0)).find("truncated data") != std::string::npos);
  std::vector<char> trailing = handmade(ok, x, sizeof x);
  trailing.push_back(0);
  CHECK(error_of(trailing).find("after the array data") != std::string::npos);
  std::vector<char> short_header = handmade(ok, x, sizeof x);
  short_header.resize(40);
  CHECK(error_of(short_header).find("truncated .npy header") != std::string::npos);
  std::vector<char> v3 = handmade(ok, x, sizeof x);
  v3[6] = 3;
  CHECK(error_of(v3).find("unsupported .npy version 3.0") != std::string::npos);
  CHECK(error_of(handmade("{'descr': '>c8', 'fortran_order': False, 'shape': (2,), }", x, sizeof x))
            .find("unsupported dtype '>c8'") != std::string::npos);
  CHECK(error_of(handmade("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", x, sizeof x))
            .find("unsupported dtype '<c8'") != std::string::npos);
  CHECK(error_of(handmade("{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", x, 8)).find("unsupported dtype") !=
        std::string::npos);
  CHECK(error_of(handmade("{'descr': '<f4', 'fortran_order': False}", x, sizeof x)).find("bad .npy header") != std::string::npos);
  CHECK(error_of(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", x, sizeof x)).find("bad .npy header") !=
        std::string::npos);
  CHECK(
      error_of(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", x, sizeof x)).find("unknown key") !=
      std::string::npos);
  CHECK(error_of(handmade("not a dict", x, sizeof x)).find("bad .npy header") != std::string::npos);
  // Bytes after the dict (numpy refuses them too; they were taken as padding).
  CHECK(error_of(handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }XYZ", x, sizeof x))
            .find("bad .npy header (bytes after the dict)") != std::string::npos);
  // A damaged header is quoted on one line, control and binary bytes escaped (fuzzing found raw bytes echoed).
  const std::string quoted = error_of(handmade("{'descr': <f4', 'fortran_order': False,\n\x01\xee 'shape': (2, 2), }", x, sizeof x));
  CHECK(quoted.find("x.npy: bad .npy header (expected a string): {'descr': <f4', 'fortran_order': False,\\x0a\\x01\\xee 'sh") == 0);
  CHECK(quoted.find('\n') == std::string::npos);
  CHECK(error_of(
            handmade("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }", x, sizeof x))
            .find("too large") != std::string::npos);
  CHECK_THROWS_WITH_AS(read_npy("/nonexistent/dir/m.npy"), doctest::Contains("/nonexistent/dir/m.npy: cannot open"), InputError);
}

TEST_CASE("npy: read_matrix_npy converts integer and bool matrices of every width") {
  int n = 0, m = 0;
  std::string path = temp_path("ints.npy");
  const int32_t i4[4] = {1, -2, 3, 2147483647};
  write_npy(path, i4, {2, 2});
  CHECK(read_matrix_npy(path, n, m) == std::vector<double>{1, -2, 3, 2147483647.0});
  CHECK((n == 2 && m == 2));
  const int64_t i8[2] = {-5, int64_t(1) << 53};
  write_npy(path, i8, {1, 2});
  CHECK(read_matrix_npy(path, n, m) == std::vector<double>{-5, 9007199254740992.0});
  // Hand-made files for the dtypes our writer does not produce, as numpy lays them out.
  auto check = [&](const char* descr, const void* data, size_t bytes, std::vector<double> want) {
    CAPTURE(descr);
    std::vector<char> f =
        handmade(std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (2, 2), }", data, bytes);
    write_file_atomic(path, f.data(), f.size());
    CHECK(read_matrix_npy(path, n, m) == want);
  };
  const int8_t i1[4] = {-128, 0, 5, 127};
  check("|i1", i1, 4, {-128, 0, 5, 127});
  const uint8_t u1[4] = {0, 1, 200, 255};
  check("|u1", u1, 4, {0, 1, 200, 255});
  const int16_t i2[4] = {-32768, 1, 2, 32767};
  check("<i2", i2, 8, {-32768, 1, 2, 32767});
  const uint16_t u2[4] = {0, 1, 2, 65535};
  check("<u2", u2, 8, {0, 1, 2, 65535});
  const uint32_t u4[4] = {0, 1, 2, 4294967295u};
  check("<u4", u4, 16, {0, 1, 2, 4294967295.0});
  const uint64_t u8[4] = {0, 1, 2, uint64_t(1) << 53};
  check("<u8", u8, 32, {0, 1, 2, 9007199254740992.0});
  // Past 2^53 a double cannot hold every integer (2^53 + 1 would read as 2^53, tying it with its
  // neighbour): refused, since the solvers would then find a wrong "optimum" without a word.
  const uint64_t u8_big[4] = {0, 1, 2, uint64_t(1) << 63};
  const std::vector<char> big_file = handmade("{'descr': '<u8', 'fortran_order': False, 'shape': (2, 2), }", u8_big, 32);
  write_file_atomic(path, big_file.data(), big_file.size());
  CHECK_THROWS_WITH_AS(read_matrix_npy(path, n, m), doctest::Contains("entry (1, 1) = 9223372036854775808 is past 2^53"),
                       InputError);
  const int64_t i8_big[2] = {3, -((int64_t(1) << 53) + 1)};
  write_npy(path, i8_big, {1, 2});
  CHECK_THROWS_WITH_AS(read_matrix_npy(path, n, m), doctest::Contains("entry (0, 1) = -9007199254740993 is past 2^53"),
                       InputError);
  const bool b1[4] = {true, false, false, true};
  check("|b1", b1, 4, {1, 0, 0, 1});
  // A bool byte other than 0 / 1 is True, as numpy reads it (fuzz finding: loading it as bool is UB).
  const uint8_t b1_odd[4] = {160, 0, 2, 1};
  check("|b1", b1_odd, 4, {1, 0, 1, 1});
}

TEST_CASE("npy: read_npy takes the data straight from the file and still rejects a truncated one") {
  std::vector<double> big(300 * 257);
  for (size_t k = 0; k < big.size(); ++k) big[k] = std::sin((double)k);
  std::string path = temp_path("big.npy");
  write_npy(path, big.data(), {300, 257});
  NpyArray a = read_npy(path);
  NpyArray b = parse_npy(read_file(path), path);
  CHECK(a.shape == b.shape);
  CHECK(a.bytes == b.bytes);
  NpyMatrix x = load_matrix_npy(path);  // mapped in place
  CHECK((x.n == 300 && x.m == 257 && x.converted.empty()));
  CHECK(std::vector<double>(x.data, x.data + big.size()) == big);
  std::vector<char> raw = read_file(path);
  raw.resize(raw.size() - 8);
  write_file_atomic(path, raw.data(), raw.size());
  CHECK_THROWS_WITH_AS(read_npy(path), doctest::Contains("truncated data"), InputError);
  CHECK_THROWS_WITH_AS(load_matrix_npy(path), doctest::Contains("truncated data"), InputError);
  raw.resize(9);  // not even the prefix
  write_file_atomic(path, raw.data(), raw.size());
  CHECK_THROWS_WITH_AS(read_npy(path), doctest::Contains("not a .npy file"), InputError);
  CHECK_THROWS_WITH_AS(read_npy(temp_path("")), doctest::Contains("cannot read"), InputError);  // a folder
}

TEST_CASE("npy: read_matrix_npy accepts 2-D matrices only, and only finite ones") {
  int n = 0, m = 0;
  const double good[6] = {1, 2, 3, 4, 5, 6};
  std::string path = temp_path("good.npy");
  write_npy(path, good, {2, 3});
  std::vector<double> M = read_matrix_npy(path, n, m);
  CHECK(n == 2);
  CHECK(m == 3);
  CHECK(M == std::vector<double>(good, good + 6));
  const float f[4] = {1, NAN, 3, 4};
  write_npy(path, f, {2, 2});
  CHECK_THROWS_WITH_AS(read_matrix_npy(path, n, m), doctest::Contains("entry (0, 1) is NaN"), InputError);
  const double inf[2] = {1, -INFINITY};
  write_npy(path, inf, {1, 2});
  CHECK_THROWS_WITH_AS(read_matrix_npy(path, n, m), doctest::Contains("entry (0, 1) is infinite"), InputError);
  write_npy(path, good, {6});
  CHECK_THROWS_WITH_AS(read_matrix_npy(path, n, m), doctest::Contains("expected a 2-D matrix, got 1"), InputError);
  write_npy(path, good, {1, 2, 3});
  CHECK_THROWS_WITH_AS(read_matrix_npy(path, n, m), doctest::Contains("got 3 dimensions"), InputError);
  write_file_atomic(path, std::string("garbage"));
  CHECK_THROWS_WITH_AS(read_matrix_npy(path, n, m), doctest::Contains((path + ": not a .npy file").c_str()), InputError);
}
