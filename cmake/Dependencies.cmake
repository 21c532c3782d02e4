# Third-party packages, all from Debian 12. Included as SYSTEM so their headers'
# warnings (g++ 12 false positives at -O2) do not fail a -Werror build.
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG)
find_package(OpenSSL 3.0 REQUIRED)
find_package(spdlog REQUIRED CONFIG)
# spdlog and fmt inside the binary: the daemon carries the few functions it
# calls instead of mapping two more shared libraries (docs/performance.md).
# fmt is header-only; spdlog is compiled once, into the static library
# actoken_spdlog (daemon/CMakeLists.txt), on top of this header-only target.
set_target_properties(spdlog::spdlog_header_only PROPERTIES
  INTERFACE_LINK_LIBRARIES "Threads::Threads;fmt::fmt-header-only")
find_package(nlohmann_json 3.11 REQUIRED CONFIG)
find_package(CLI11 REQUIRED CONFIG)
if(ACTOKEN_BUILD_TESTS)
  find_package(doctest REQUIRED CONFIG)
  set_target_properties(doctest::doctest PROPERTIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES
    "$<TARGET_PROPERTY:doctest::doctest,INTERFACE_INCLUDE_DIRECTORIES>")
endif()

foreach(_target Boost::headers spdlog::spdlog_header_only nlohmann_json::nlohmann_json CLI11::CLI11)
  get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
  if(_dirs)
    set_target_properties(${_target} PROPERTIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_dirs}")
  endif()
endforeach()

# actoken_project_options: what every first-party target links.
add_library(actoken_project_options INTERFACE)
target_link_libraries(actoken_project_options INTERFACE
  actoken_warnings actoken_hardening actoken_sanitizers actoken_footprint)
target_include_directories(actoken_project_options INTERFACE ${PROJECT_SOURCE_DIR})
target_compile_definitions(actoken_project_options INTERFACE
  ACTOKEN_VERSION="${PROJECT_VERSION}")
