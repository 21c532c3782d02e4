// The OpenSSL calls fault.hpp lets a test fail (the cache file's HKDF and
// AES-256-GCM): a failure is OpenSSL's own, 0 or a null pointer. As in
// fault.cpp, the definitions here replace libcrypto's for the test process
// and pass through unless a fault armed on this thread names the call.
// libcrypto calls some of these itself (its random generator encrypts with
// AES): only calls from the test program's own code count.
#include "tests/fault/fault_plan.hpp"

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <dlfcn.h>

#include <cstdlib>

namespace {

// The load address of the test program (where the product's code is linked).
const char marker = 0;

const void* program_base() {
  static const void* base = [] {
    Dl_info info{};
    return ::dladdr(&marker, &info) != 0 ? info.dli_fbase : nullptr;
  }();
  return base;
}

bool from_program(const void* caller) {
  Dl_info info{};
  return ::dladdr(caller, &info) != 0 && info.dli_fbase == program_base();
}

}  // namespace

// A macro, so that the return address is the interposed function's caller.
#define ACTOKEN_FAILS(call) \
  (from_program(__builtin_return_address(0)) && actoken::testing::planned_failure(call).fail)

#define ACTOKEN_PASS_THROUGH(name, ...)                                                         \
  static void* cache = nullptr;                                                                 \
  return reinterpret_cast<decltype(&::name)>(actoken::testing::next_definition(#name, &cache))( \
      __VA_ARGS__)

extern "C" {

int RAND_bytes(unsigned char* buffer, int size) {
  if (ACTOKEN_FAILS("RAND_bytes")) return 0;
  ACTOKEN_PASS_THROUGH(RAND_bytes, buffer, size);
}

EVP_KDF* EVP_KDF_fetch(OSSL_LIB_CTX* library, const char* algorithm, const char* properties) {
  if (ACTOKEN_FAILS("EVP_KDF_fetch")) return nullptr;
  ACTOKEN_PASS_THROUGH(EVP_KDF_fetch, library, algorithm, properties);
}

EVP_KDF_CTX* EVP_KDF_CTX_new(EVP_KDF* kdf) {
  if (ACTOKEN_FAILS("EVP_KDF_CTX_new")) return nullptr;
  ACTOKEN_PASS_THROUGH(EVP_KDF_CTX_new, kdf);
}

int EVP_KDF_derive(EVP_KDF_CTX* context, unsigned char* key, size_t size,
                   const OSSL_PARAM params[]) {
  if (ACTOKEN_FAILS("EVP_KDF_derive")) return 0;
  ACTOKEN_PASS_THROUGH(EVP_KDF_derive, context, key, size, params);
}

EVP_CIPHER_CTX* EVP_CIPHER_CTX_new() {
  if (ACTOKEN_FAILS("EVP_CIPHER_CTX_new")) return nullptr;
  ACTOKEN_PASS_THROUGH(EVP_CIPHER_CTX_new);
}

int EVP_CIPHER_CTX_ctrl(EVP_CIPHER_CTX* context, int type, int argument, void* pointer) {
  if (ACTOKEN_FAILS("EVP_CIPHER_CTX_ctrl")) return 0;
  ACTOKEN_PASS_THROUGH(EVP_CIPHER_CTX_ctrl, context, type, argument, pointer);
}

int EVP_EncryptInit_ex(EVP_CIPHER_CTX* context, const EVP_CIPHER* cipher, ENGINE* engine,
                       const unsigned char* key, const unsigned char* iv) {
  if (ACTOKEN_FAILS("EVP_EncryptInit_ex")) return 0;
  ACTOKEN_PASS_THROUGH(EVP_EncryptInit_ex, context, cipher, engine, key, iv);
}

int EVP_EncryptUpdate(EVP_CIPHER_CTX* context, unsigned char* out, int* out_size,
                      const unsigned char* in, int in_size) {
  if (ACTOKEN_FAILS("EVP_EncryptUpdate")) return 0;
  ACTOKEN_PASS_THROUGH(EVP_EncryptUpdate, context, out, out_size, in, in_size);
}

int EVP_EncryptFinal_ex(EVP_CIPHER_CTX* context, unsigned char* out, int* out_size) {
  if (ACTOKEN_FAILS("EVP_EncryptFinal_ex")) return 0;
  ACTOKEN_PASS_THROUGH(EVP_EncryptFinal_ex, context, out, out_size);
}

int EVP_DecryptInit_ex(EVP_CIPHER_CTX* context, const EVP_CIPHER* cipher, ENGINE* engine,
                       const unsigned char* key, const unsigned char* iv) {
  if (ACTOKEN_FAILS("EVP_DecryptInit_ex")) return 0;
  ACTOKEN_PASS_THROUGH(EVP_DecryptInit_ex, context, cipher, engine, key, iv);
}

int EVP_DecryptUpdate(EVP_CIPHER_CTX* context, unsigned char* out, int* out_size,
                      const unsigned char* in, int in_size) {
  if (ACTOKEN_FAILS("EVP_DecryptUpdate")) return 0;
  ACTOKEN_PASS_THROUGH(EVP_DecryptUpdate, context, out, out_size, in, in_size);
}

}  // extern "C"
