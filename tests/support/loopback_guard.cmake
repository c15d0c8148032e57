# netcrypto_add_loopback_guard(TARGET): links the loopback guard (loopback_guard.hpp) into an
# executable and exports the interposed symbols, so that libtoxcore's calls bind to them.
function(netcrypto_add_loopback_guard target)
    target_sources(${target} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/loopback_guard.cpp)
    target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
    target_link_libraries(${target} PRIVATE ${CMAKE_DL_LIBS})
    target_link_options(${target} PRIVATE
        "LINKER:--export-dynamic-symbol=sendto"
        "LINKER:--export-dynamic-symbol=sendmsg"
        "LINKER:--export-dynamic-symbol=connect")
endfunction()
