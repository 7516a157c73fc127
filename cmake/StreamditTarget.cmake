# Warnings are errors on our own code only; third-party headers are included as SYSTEM.
function(streamdit_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Werror --Werror all-warnings>)
endfunction()

# Adds a GoogleTest executable and registers its tests with CTest.
#   streamdit_test(NAME name SOURCES a.cc b.cc LIBS lib1 lib2 [LABELS l1 l2])
function(streamdit_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  streamdit_warnings(${T_NAME})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} streamdit_build_paths GTest::gtest
    GTest::gtest_main Threads::Threads)
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 120 PROPERTIES LABELS "${T_LABELS}")
endfunction()

# libtorch's headers take seconds per translation unit (torch 2.x): targets that compile against
# them precompile <torch/types.h> (ATen, c10, the tensor API) once. With ccache, scripts/test sets
# CCACHE_SLOPPINESS so that objects built with the header are still cached.
function(streamdit_torch_pch target)
  if(NOT STREAMDIT_SANITIZE)
    target_precompile_headers(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:<torch/types.h$<ANGLE-R>>)
  endif()
endfunction()
