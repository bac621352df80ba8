# Small helpers so each CMakeLists.txt below stays a list of names.

function(mln_setup_compiler_flags)
  add_compile_options(-Wall -Wextra -Wno-missing-field-initializers)
  if(MLN_WERROR)
    add_compile_options(-Werror)
  endif()
  if(MLN_SANITIZE)
    string(REPLACE ";" "," _san "${MLN_SANITIZE}")
    add_compile_options(-fsanitize=${_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    add_link_options(-fsanitize=${_san})
  endif()
endfunction()

# mln_add_filter(mln-parse mln_parse.cc): one executable per filter, linked to libstream and
# the SIMD dispatch runtime only.
function(mln_add_filter name src)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE mln::stream mln::simd_runtime)
  install(TARGETS ${name} RUNTIME DESTINATION bin)
endfunction()

# mln_add_test(name SOURCES a.cc b.cc LABELS unit): a GoogleTest binary registered with ctest.
function(mln_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE mln::stream mln_test_support GTest::gtest_main)
  gtest_discover_tests(${name} PROPERTIES LABELS "${T_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
