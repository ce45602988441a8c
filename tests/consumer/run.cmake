# CTest package_consumer: builds tests/consumer both ways and runs its program each time.
#
#   cmake -DSOURCE_DIR=<ednn source> -DBUILD_DIR=<ednn build, already built> -DWORK=<scratch folder>
#         [-DLAUNCHER=<ccache>] [-DGENERATOR=Ninja] -P tests/consumer/run.cmake
#
# 1. installed: `cmake --install BUILD_DIR --prefix WORK/prefix` (what the build already made:
#    nothing is compiled again), then the consumer configured with CMAKE_PREFIX_PATH=WORK/prefix.
# 2. subdirectory: the consumer with EDNN_SOURCE_DIR=SOURCE_DIR, which compiles the libraries it
#    links again, in a CPU-only configuration (no nvcc, no HDF5: the quickest that builds
#    ednn::nets) and through LAUNCHER (ccache) when given, so a rerun costs little.
# Each step's output is printed only when it fails.
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package_consumer: ${what} failed (${rc}):\n${ARGN}\n${out}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(consumer ${SOURCE_DIR}/tests/consumer)
set(generator_args)
if(GENERATOR)
  set(generator_args -G ${GENERATOR})
endif()
set(launcher_args)
if(LAUNCHER)
  set(launcher_args -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER} -DCMAKE_C_COMPILER_LAUNCHER=${LAUNCHER})
endif()

# 1. against the installed package
file(REMOVE_RECURSE ${WORK}/prefix ${WORK}/installed)
string(TIMESTAMP t0 "%s")
step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK}/prefix)
foreach(path lib/cmake/ednn/ednnConfig.cmake lib/cmake/ednn/ednnConfigVersion.cmake lib/cmake/ednn/ednnTargets.cmake
        lib/libednn_nets.a include/ednn/nets/ednn_cnn.h include/ednn/engine/tensor.h)
  if(NOT EXISTS ${WORK}/prefix/${path})
    message(FATAL_ERROR "package_consumer: cmake --install left out ${path}")
  endif()
endforeach()
step("configure against the installed package" ${CMAKE_COMMAND} -S ${consumer} -B ${WORK}/installed
     ${generator_args} -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${WORK}/prefix)
step("build against the installed package" ${CMAKE_COMMAND} --build ${WORK}/installed)
step("run (installed package)" ${WORK}/installed/forward)
string(TIMESTAMP t1 "%s")
message(STATUS "installed package: ${step_output}")
math(EXPR seconds "${t1} - ${t0}")
message(STATUS "installed package: install, configure, build, run in ${seconds} s")

# 2. through add_subdirectory of the source tree
step("configure with add_subdirectory" ${CMAKE_COMMAND} -S ${consumer} -B ${WORK}/subdirectory
     ${generator_args} -DCMAKE_BUILD_TYPE=Release -DEDNN_SOURCE_DIR=${SOURCE_DIR} -DEDNN_CUDA=OFF -DEDNN_HDF5=OFF
     -DEDNN_MPI=OFF ${launcher_args})
step("build with add_subdirectory" ${CMAKE_COMMAND} --build ${WORK}/subdirectory)
step("run (add_subdirectory)" ${WORK}/subdirectory/forward)
string(TIMESTAMP t2 "%s")
message(STATUS "add_subdirectory: ${step_output}")
math(EXPR seconds "${t2} - ${t1}")
message(STATUS "add_subdirectory: configure, build, run in ${seconds} s")
