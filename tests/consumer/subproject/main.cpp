// Creates an Endpoint through netcrypto::core alone and prints what it is.
#include <iostream>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/version.hpp>

int main() {
    netcrypto::SodiumRng rng;
    netcrypto::Endpoint endpoint(netcrypto::KeyPair::generate(rng),
                                 netcrypto::KeyPair::generate(rng), rng, netcrypto::Instant{});
    std::cout << "netcrypto " << netcrypto::version() << " (libsodium "
              << netcrypto::sodium_version() << ") endpoint " << endpoint.public_key().to_hex()
              << '\n';
    return endpoint.connections().empty() ? 0 : 1;
}
