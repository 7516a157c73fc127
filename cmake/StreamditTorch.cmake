# Finds libtorch in the torch package of STREAMDIT_PYTHON (torch.utils.cmake_prefix_path) and, for
# STREAMDIT_CUDA, enables the CUDA language with the toolkit that matches torch's CUDA version.
if(NOT EXISTS "${STREAMDIT_PYTHON}")
  message(FATAL_ERROR "STREAMDIT_PYTHON=${STREAMDIT_PYTHON} does not exist: run scripts/setup "
                      "(it creates .venv with the pinned torch wheel) or pass -DSTREAMDIT_PYTHON=")
endif()
execute_process(
  COMMAND "${STREAMDIT_PYTHON}" -c
          "import torch, torch.utils; print(torch.utils.cmake_prefix_path); print(torch.__version__); print(torch.version.cuda or '')"
  OUTPUT_VARIABLE TORCH_PROBE RESULT_VARIABLE TORCH_PROBE_RESULT ERROR_VARIABLE TORCH_PROBE_ERROR
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT TORCH_PROBE_RESULT EQUAL 0)
  message(FATAL_ERROR "${STREAMDIT_PYTHON} cannot import torch: ${TORCH_PROBE_ERROR}")
endif()
string(REPLACE "\n" ";" TORCH_PROBE "${TORCH_PROBE}")
list(GET TORCH_PROBE 0 TORCH_CMAKE_PREFIX)
list(GET TORCH_PROBE 1 STREAMDIT_TORCH_VERSION)
list(LENGTH TORCH_PROBE TORCH_PROBE_LENGTH)
set(STREAMDIT_TORCH_CUDA_VERSION "")
if(TORCH_PROBE_LENGTH GREATER 2)
  list(GET TORCH_PROBE 2 STREAMDIT_TORCH_CUDA_VERSION)
endif()
list(APPEND CMAKE_PREFIX_PATH "${TORCH_CMAKE_PREFIX}")
# The wheel's libtorch.so exports its own (static) copy of std::filesystem, which is broken when
# called from outside it (remove_all jumps to null). libstdc++ goes first among every binary's
# needed libraries, so the dynamic linker resolves std:: symbols to the system's libstdc++.
add_link_options(LINKER:--push-state,--no-as-needed -lstdc++ LINKER:--pop-state)
message(STATUS "streamdit: torch ${STREAMDIT_TORCH_VERSION} (CUDA '${STREAMDIT_TORCH_CUDA_VERSION}') "
               "from ${STREAMDIT_PYTHON}")

if(STREAMDIT_CUDA)
  if(STREAMDIT_TORCH_CUDA_VERSION STREQUAL "")
    message(FATAL_ERROR "STREAMDIT_CUDA=ON but torch ${STREAMDIT_TORCH_VERSION} has no CUDA")
  endif()
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  # Ampere, Ada (the 8-24 GB consumer cards) and Hopper (H100/H200): real code for each, no JIT at
  # start. torch's config turns TORCH_CUDA_ARCH_LIST into the -gencode flags of every CUDA file;
  # left to itself it detects a list that CUDA 13's nvcc partly refuses (compute_50).
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "8.0;8.6;8.9;9.0")
  endif()
  set(CMAKE_CUDA_ARCHITECTURES OFF)
  # One cudart in the process: the shared one that libtorch_cuda loads too.
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  # torch's Caffe2 config looks the toolkit up through CUDAToolkit.
  find_package(CUDAToolkit REQUIRED)
  message(STATUS "streamdit: CUDA ${CUDAToolkit_VERSION} (${CMAKE_CUDA_COMPILER})")
endif()

# The torch wheel's include folder also holds its own copies of third-party headers (protobuf,
# fmt, pybind11) that shadow Debian's, which gRPC and spdlog are built against. The imported torch
# targets get an overlay folder instead: links to every entry of torch's include folder but those.
function(streamdit_torch_include_overlay)
  set(torch_include "${TORCH_INSTALL_PREFIX}/include")
  set(overlay "${PROJECT_BINARY_DIR}/torch-include")
  file(GLOB entries RELATIVE "${torch_include}" "${torch_include}/*")
  foreach(entry IN LISTS entries)
    if(NOT entry MATCHES "^(google|fmt|pybind11)$" AND NOT EXISTS "${overlay}/${entry}")
      file(MAKE_DIRECTORY "${overlay}")
      file(CREATE_LINK "${torch_include}/${entry}" "${overlay}/${entry}" SYMBOLIC)
    endif()
  endforeach()
  get_directory_property(imported IMPORTED_TARGETS)
  foreach(target IN LISTS imported)
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(dirs)
      string(REPLACE "${torch_include}" "${overlay}" dirs "${dirs}")
      set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${dirs}")
    endif()
  endforeach()
endfunction()
