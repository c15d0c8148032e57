# Keeps the core layer (library netcrypto_core) portable and sans-I/O. Fails when a file under
# DIR (src/core), or a public header of the core under HEADERS (include/netcrypto, except the
# runtime's and the friend layer's headers and posix.hpp, the header-only POSIX helpers for
# applications that drive the core from their own event loop):
#   * includes another layer: runtime, friend or cli (src/<layer>/..., netcrypto/runtime.hpp,
#     netcrypto/friend.hpp);
#   * includes an OS header: POSIX/Linux (sys/*, netinet/*, arpa/*, linux/*, unistd.h, poll.h,
#     fcntl.h, pthread.h, ...), Windows (windows.h, winsock2.h, ...), macOS (mach/*, ...);
#   * includes a standard header that does I/O, starts threads, reads clocks or seeds randomness
#     (<thread>, <mutex>, <iostream>, <cstdio>, <ctime>, <random>, <filesystem>, ...);
#   * reads a clock (steady_clock::now, ...) or draws OS randomness (randombytes_buf,
#     getrandom). The one exception is src/core/sodium_rng.cpp: SodiumRng is the production Rng
#     that an application hands to the core; the core itself never constructs one.
# Usage: cmake -DDIR=<src/core> [-DHEADERS=<include/netcrypto>] -P check_sans_io.cmake
if(NOT DIR)
    message(FATAL_ERROR "usage: cmake -DDIR=<src/core> [-DHEADERS=<dir>] -P check_sans_io.cmake")
endif()
file(GLOB_RECURSE files ${DIR}/*.cpp ${DIR}/*.hpp ${DIR}/*.h ${DIR}/*.cc ${DIR}/*.inl)
if(HEADERS)
    file(GLOB headers ${HEADERS}/*.hpp)
    list(FILTER headers EXCLUDE REGEX "/(runtime|friend|posix)\\.hpp$")
    list(APPEND files ${headers})
endif()
list(LENGTH files n_files)
if(n_files EQUAL 0)
    message(FATAL_ERROR "no source files under ${DIR}")
endif()

# Regular expressions matched against the name inside #include <...> or "...".
set(other_layers
    "(^|/)(runtime|friend|cli)/"            # src/runtime/..., "friend/friend.hpp", ../cli/...
    "^netcrypto/(runtime|friend|posix)\\.hpp$")  # public headers of the upper layers
set(os_headers
    "^sys/" "^netinet/" "^arpa/" "^net/" "^linux/" "^asm/" "^bits/"
    "^netdb\\.h$" "^unistd\\.h$" "^poll\\.h$" "^fcntl\\.h$" "^pthread\\.h$" "^sched\\.h$"
    "^signal\\.h$" "^csignal$" "^dlfcn\\.h$" "^termios\\.h$" "^ifaddrs\\.h$" "^syslog\\.h$"
    "^semaphore\\.h$" "^threads\\.h$" "^dirent\\.h$" "^errno\\.h$" "^cerrno$"
    "^[Ww]indows\\.h$" "^[Ww]insock2?\\.h$" "^[Ww][Ss]2tcpip\\.h$" "^[Ww]s2def\\.h$"
    "^[Ii]phlpapi\\.h$" "^io\\.h$" "^process\\.h$" "^direct\\.h$" "^[Bb]crypt\\.h$"
    "^mach/" "^dispatch/" "^CoreFoundation/" "^Security/"
    "^uv\\.h$" "^asio" "^boost/asio")
set(io_std_headers
    "^thread$" "^mutex$" "^shared_mutex$" "^condition_variable$" "^future$" "^semaphore$"
    "^latch$" "^barrier$" "^stop_token$" "^iostream$" "^fstream$" "^filesystem$"
    "^cstdio$" "^stdio\\.h$" "^ctime$" "^time\\.h$" "^random$")
set(sodium_rng_file "${DIR}/sodium_rng.cpp")

set(bad "")
foreach(f ${files})
    # One list element per source line, numbered (';' in the code escaped so it does not split).
    file(READ ${f} content)
    string(REPLACE ";" "\\;" content "${content}")
    string(REPLACE "\n" ";" lines "${content}")
    string(FIND "${f}" "${DIR}/" in_dir)
    set(n 0)
    foreach(line IN LISTS lines)
        math(EXPR n "${n} + 1")
        set(where "${f}:${n}: ${line}")
        if(line MATCHES "^[ \t]*#[ \t]*include")
            if(NOT line MATCHES "#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
                string(APPEND bad "\n${where}   (unparsed #include)")
                continue()
            endif()
            set(header "${CMAKE_MATCH_1}")
            foreach(kind other_layers os_headers io_std_headers)
                foreach(pat IN LISTS ${kind})
                    if(header MATCHES "${pat}")
                        string(APPEND bad "\n${where}   (${kind})")
                    endif()
                endforeach()
            endforeach()
        endif()
        if(line MATCHES "(steady_clock|system_clock|high_resolution_clock|utc_clock|file_clock)::now|getrandom|arc4random|BCryptGenRandom")
            string(APPEND bad "\n${where}   (clock or OS randomness)")
        endif()
        # Public headers may name SodiumRng (random.hpp declares it); src/core may not use it.
        if(in_dir EQUAL 0 AND NOT f STREQUAL sodium_rng_file
           AND line MATCHES "randombytes_(buf|random|uniform)|SodiumRng")
            string(APPEND bad "\n${where}   (hidden randomness: take an Rng&)")
        endif()
    endforeach()
endforeach()
if(bad)
    message(FATAL_ERROR "src/core must stay portable and sans-I/O: no other layer, no OS header, "
                        "no I/O, no clock, no hidden randomness:${bad}")
endif()
message(STATUS "src/core is portable and sans-I/O (${n_files} files checked)")
