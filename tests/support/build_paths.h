// Where this build's source tree, build tree and Python interpreter are, for tests and benchmarks
// that read files of the repository, run the built binaries or run reference scripts.
//
// The answers live in one object that CMake generates (cmake/build_paths.cc.in), not in -D flags:
// every other object then compiles to the same bytes in every clone, so ccache shares them between
// checkouts (a clean clone for CI next to a working tree rebuilds one file, not every test).
#ifndef STREAMDIT_TESTS_SUPPORT_BUILD_PATHS_H_
#define STREAMDIT_TESTS_SUPPORT_BUILD_PATHS_H_

namespace streamdit::build_paths {

// The repository root (PROJECT_SOURCE_DIR), absolute, without a trailing slash.
const char* SourceDir();
// The build tree (PROJECT_BINARY_DIR), absolute, without a trailing slash.
const char* BinaryDir();
// STREAMDIT_PYTHON: the virtual environment's python3 whose torch is the build's libtorch.
const char* Python();

}  // namespace streamdit::build_paths

#endif  // STREAMDIT_TESTS_SUPPORT_BUILD_PATHS_H_
