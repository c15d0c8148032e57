// NETCRYPTO_EXPORT marks the public API: the libraries are compiled with hidden visibility
// (-fvisibility=hidden), so in a shared build only what carries this macro is exported.
// NETCRYPTO_NO_EXPORT keeps a nested implementation class (Endpoint::Impl, Loop::Impl) hidden
// although its enclosing class is exported.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define NETCRYPTO_EXPORT __attribute__((visibility("default")))
#define NETCRYPTO_NO_EXPORT __attribute__((visibility("hidden")))
#else
// Other compilers (e.g. MSVC): no symbol annotations; build netcrypto as static libraries there.
#define NETCRYPTO_EXPORT
#define NETCRYPTO_NO_EXPORT
#endif
