# Unity builds for the product libraries and the stand-in: CMake compiles each
# library's .cpp files in batches of 16, one translation unit per batch. Their
# files parse the same heavy headers (Asio, nlohmann/json, fmt) and emit the
# same inline and template code again and again; a batch does it once.
# Measured in docs/testing.md ("Build time").
#
# Off by default, and off in scripts/test's first build: there each .cpp is
# compiled alone, which is what checks that it includes everything it uses and
# (STYLE: a unit's .cpp includes its header first) that its header stands
# alone (tests/headers checks the others). In a batch, the files before it
# would hide a missing include. The builds that only run code under a
# sanitizer turn it on: scripts/test's ASan+UBSan build and scripts/fuzz.
#
# What it asks of the code: names in anonymous namespaces are unique within a
# library (a clash is a redefinition error in the sanitizer build; give each
# helper a name that says what it does, or share one from a header).
# Included from the top CMakeLists.txt, after every target is defined.
option(ACTOKEN_UNITY_BUILD "Compile the product libraries in batches (unity build)" OFF)

if(ACTOKEN_UNITY_BUILD)
  foreach(_target actoken_common actoken_platform actoken_upstream actoken_daemon
                  actoken_client_lib actoken_stand_in)
    if(TARGET ${_target})
      set_target_properties(${_target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 16)
    endif()
  endforeach()

  # Compiled alone: a class of these files has a member of a type from the
  # file's anonymous namespace, which is right in a .cpp, but g++ warns of it
  # (-Wsubobject-linkage) once the file is included into a batch. They are
  # the largest files of their libraries, so they gain least from a batch.
  # (Files with COMPILE_OPTIONS of their own, such as client/cli_args.cpp,
  # are always compiled alone.)
  set_source_files_properties(${PROJECT_SOURCE_DIR}/daemon/transport/http_server.cpp
    DIRECTORY ${PROJECT_SOURCE_DIR}/daemon PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  set_source_files_properties(${PROJECT_SOURCE_DIR}/daemon/upstream/key_echo.cpp
    DIRECTORY ${PROJECT_SOURCE_DIR}/daemon/upstream PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  if(TARGET actoken_stand_in)
    set_source_files_properties(${PROJECT_SOURCE_DIR}/tests/stand_in/server.cpp
      ${PROJECT_SOURCE_DIR}/tests/stand_in/connect_proxy.cpp
      DIRECTORY ${PROJECT_SOURCE_DIR}/tests/stand_in PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  endif()
endif()
