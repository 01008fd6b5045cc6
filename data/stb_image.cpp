// The project's one copy of stb_image's implementation (JPEG, PNG, BMP, PPM/PGM decoders).
// Other files include <stb/stb_image.h> for the declarations only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_IMPLEMENTATION
// A hard bound on declared sizes (stb allows 2^24 per side); data/image_folder.cpp also bounds the pixel count.
#define STBI_MAX_DIMENSIONS (1 << 14)
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
