# ednn as a CMake package: `ednn::` targets for other projects, used either way
#
#   find_package(ednn 0.2 REQUIRED)             # an installed ednn (cmake --install build --prefix P,
#   target_link_libraries(app PRIVATE ednn::nets)   then CMAKE_PREFIX_PATH=P)
#
#   add_subdirectory(path/to/ednn ednn EXCLUDE_FROM_ALL)   # or FetchContent: the same names
#   target_link_libraries(app PRIVATE ednn::nets)
#
# Each library ednn_X is exported as ednn::X (ednn_nets -> ednn::nets; ALIAS targets give the same
# names inside the build tree). `cmake --install` puts the programs in bin/, the static libraries
# in lib/, every header of the library folders in include/ednn/ (included as "engine/tensor.h",
# as inside the source tree) and lib/cmake/ednn/ednnConfig.cmake with its version file and the
# exported targets. tests/consumer/ is a project that uses it both ways (CTest package_consumer).
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Every library a program or another project may link, and those they link in turn (a static
# library's private dependencies are part of its export too), where this build has them.
set(EDNN_PACKAGE_LIBRARIES
  ednn_core ednn_cpu ednn_engine ednn_comm ednn_solver ednn_dataset ednn_nets ednn_cli ednn_io ednn_pictures ednn_study
  ednn_simt_emu ednn_kernels_emu ednn_solver_kernels_emu ednn_solver_device_emu
  ednn_simt_cuda ednn_kernels_cuda ednn_solver_kernels_cuda ednn_solver_device_cuda)
set(EDNN_PACKAGE_PROGRAMS datagen train infer study)

set(installed_libraries)
foreach(library IN LISTS EDNN_PACKAGE_LIBRARIES)
  if(TARGET ${library})
    string(REGEX REPLACE "^ednn_" "" name ${library})
    set_target_properties(${library} PROPERTIES EXPORT_NAME ${name})
    add_library(ednn::${name} ALIAS ${library})
    list(APPEND installed_libraries ${library})
  endif()
endforeach()
set(installed_programs)
foreach(program IN LISTS EDNN_PACKAGE_PROGRAMS)
  if(TARGET ${program})
    list(APPEND installed_programs ${program})
  endif()
endforeach()

option(EDNN_INSTALL "Generate the install rules (programs, libraries, headers, ednnConfig.cmake)" ${PROJECT_IS_TOP_LEVEL})
if(NOT EDNN_INSTALL)
  return()
endif()

install(TARGETS ${installed_programs} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ${installed_libraries} EXPORT ednnTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ednn)
foreach(dir core cpu engine kernels solver nets apps)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/ednn/${dir}
          FILES_MATCHING PATTERN "*.h" PATTERN "*.cuh")
endforeach()
install(EXPORT ednnTargets NAMESPACE ednn:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ednn)

# What ednnConfig.cmake must find before the targets load: the imported targets they name.
set(EDNN_JSON_FROM_PACKAGE ${nlohmann_json_FOUND})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ednnConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/package/ednnConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ednn)
# 0.x: a minor version may break the interface, so 0.2.z satisfies a request for 0.2 only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/ednnConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/ednnConfig.cmake ${PROJECT_BINARY_DIR}/package/ednnConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ednn)
