# Configures and builds tests/consumer/subproject (netcrypto added with add_subdirectory), runs
# the consumer, and checks that the subproject defined and built nothing but the libraries: no
# test, benchmark, fuzzer or CLI target may exist, and the only executable built is the consumer.
# Usage: cmake -DSOURCE_DIR= -DBINARY_DIR= -DNETCRYPTO_ROOT= -DGENERATOR= [-DCXX= -DC=] -P <this>
cmake_minimum_required(VERSION 3.25)
foreach(var SOURCE_DIR BINARY_DIR NETCRYPTO_ROOT GENERATOR)
    if(NOT ${var})
        message(FATAL_ERROR "check_subproject.cmake: ${var} not set")
    endif()
endforeach()

function(run what)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
    endif()
    set(out "${out}" PARENT_SCOPE)
endfunction()

set(compilers "")
if(CXX)
    list(APPEND compilers -DCMAKE_CXX_COMPILER=${CXX})
endif()
if(C)
    list(APPEND compilers -DCMAKE_C_COMPILER=${C})
endif()
# No build type: the subproject must not force its Release default on the parent, and an
# unoptimised build of the core is the quickest. The CMake file API reports every target.
file(WRITE ${BINARY_DIR}/.cmake/api/v1/query/codemodel-v2 "")
run("configure" ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BINARY_DIR} -G ${GENERATOR}
    -DNETCRYPTO_ROOT=${NETCRYPTO_ROOT} ${compilers})
run("build" ${CMAKE_COMMAND} --build ${BINARY_DIR} --parallel 2)

# 1. Every target the build defines (file API codemodel): besides the consumer only libraries.
set(reply ${BINARY_DIR}/.cmake/api/v1/reply)
file(GLOB index LIST_DIRECTORIES false ${reply}/index-*.json)
list(SORT index)
list(GET index -1 index)
file(READ ${index} json)
string(JSON codemodel GET "${json}" reply codemodel-v2 jsonFile)
file(READ ${reply}/${codemodel} json)
string(JSON n LENGTH "${json}" configurations 0 targets)
math(EXPR last "${n} - 1")
set(listing "")
foreach(i RANGE ${last})
    string(JSON name GET "${json}" configurations 0 targets ${i} name)
    string(JSON target_file GET "${json}" configurations 0 targets ${i} jsonFile)
    file(READ ${reply}/${target_file} target_json)
    string(JSON type GET "${target_json}" type)
    string(APPEND listing "\n  ${name} (${type})")
    if(name STREQUAL "consumer")
        continue()
    endif()
    if(NOT type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY|INTERFACE_LIBRARY)$"
       OR NOT name MATCHES "^netcrypto_")
        message(FATAL_ERROR "the subproject defined a non-library target: ${name} (${type})")
    endif()
endforeach()
message(STATUS "targets of the consumer build:${listing}")

# 2. What was built: the consumer and netcrypto's libraries, nothing else.
file(GLOB_RECURSE built LIST_DIRECTORIES false RELATIVE ${BINARY_DIR}
     ${BINARY_DIR}/*.a ${BINARY_DIR}/*.so ${BINARY_DIR}/*.so.* ${BINARY_DIR}/consumer
     ${BINARY_DIR}/netcrypto/*)
list(FILTER built EXCLUDE REGEX "(CMakeFiles|\\.cmake$|\\.ninja|Makefile|\\.hpp$|\\.pc$|\\.txt$)")
message(STATUS "built artifacts:\n  ${built}")
foreach(f IN LISTS built)
    if(NOT f MATCHES "^(consumer|netcrypto/libnetcrypto_(core|runtime|friend)\\.(a|so[.0-9]*))$")
        message(FATAL_ERROR "the subproject built something other than a library: ${f}")
    endif()
endforeach()
if(NOT "netcrypto/libnetcrypto_core.a" IN_LIST built AND NOT "netcrypto/libnetcrypto_core.so" IN_LIST built)
    message(FATAL_ERROR "libnetcrypto_core was not built: ${built}")
endif()

# 3. The consumer runs.
run("consumer" ${BINARY_DIR}/consumer)
message(STATUS "consumer: ${out}")
if(NOT out MATCHES "^netcrypto [0-9]+\\.[0-9]+\\.[0-9]+ \\(libsodium [^)]+\\) endpoint [0-9a-f]+")
    message(FATAL_ERROR "unexpected consumer output: ${out}")
endif()
