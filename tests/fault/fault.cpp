// The libc functions fault.hpp lets a test fail. Each definition here
// replaces libc's for the whole test process; it asks `planned_failure`
// whether a fault armed on this thread matches, and otherwise calls the real
// function, found with dlsym(RTLD_NEXT). A release build's _FORTIFY_SOURCE
// turns some calls into their checked variants (`__read_chk`, `__open_2`, …):
// those are defined too.
#include "tests/fault/fault.hpp"

#include "tests/fault/fault_plan.hpp"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <stdexcept>

// The checked variants _FORTIFY_SOURCE calls; this file is compiled without
// it (tests/fault/CMakeLists.txt), so no header declares them.
extern "C" {
int __open_2(const char* path, int flags);
int __openat_2(int dir, const char* path, int flags);
ssize_t __read_chk(int fd, void* buffer, size_t size, size_t buffer_size);
ssize_t __recv_chk(int fd, void* buffer, size_t size, size_t buffer_size, int flags);
int __poll_chk(pollfd* fds, nfds_t count, int timeout, size_t fds_size);
}

namespace actoken::testing {
namespace {

// Plain data: read from inside interposed calls, which must not allocate.
struct slot {
  bool armed;
  char call[48];
  char path_contains[256];
  int error;
  int skip;
  int times;
  long short_count;
  int seen;
  int hits;
};
constexpr int slot_count = 8;
thread_local slot slots[slot_count];

}  // namespace

void* next_definition(const char* name, void** cache) {
  void* found = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
  if (found == nullptr) {
    found = ::dlsym(RTLD_NEXT, name);
    if (found == nullptr) ::abort();
    __atomic_store_n(cache, found, __ATOMIC_RELEASE);
  }
  return found;
}

verdict planned_failure(const char* call, const char* path) {
  verdict result;
  for (auto& s : slots) {
    if (!s.armed || std::strcmp(s.call, call) != 0) continue;
    if (s.path_contains[0] != '\0' && (path == nullptr || !std::strstr(path, s.path_contains))) {
      continue;
    }
    const int index = s.seen++;
    if (index < s.skip || (s.times >= 0 && index >= s.skip + s.times)) continue;
    ++s.hits;
    if (s.short_count >= 0) {
      result.short_count = s.short_count;
    } else {
      result.fail = true;
      result.error = s.error;
    }
    return result;
  }
  return result;
}

namespace {

#define ACTOKEN_REAL(name) \
  reinterpret_cast<decltype(&::name)>(next_definition(#name, &name##_cache))
#define ACTOKEN_CACHE(name) void* name##_cache = nullptr

ACTOKEN_CACHE(open);
ACTOKEN_CACHE(openat);
ACTOKEN_CACHE(__open_2);
ACTOKEN_CACHE(__openat_2);
ACTOKEN_CACHE(read);
ACTOKEN_CACHE(__read_chk);
ACTOKEN_CACHE(write);
ACTOKEN_CACHE(send);
ACTOKEN_CACHE(sendmsg);
ACTOKEN_CACHE(recv);
ACTOKEN_CACHE(__recv_chk);
ACTOKEN_CACHE(connect);
ACTOKEN_CACHE(socket);
ACTOKEN_CACHE(getsockopt);
ACTOKEN_CACHE(fcntl);
ACTOKEN_CACHE(fstat);
ACTOKEN_CACHE(stat);
ACTOKEN_CACHE(lstat);
ACTOKEN_CACHE(fstatat);
ACTOKEN_CACHE(mkdir);
ACTOKEN_CACHE(mkdirat);
ACTOKEN_CACHE(rename);
ACTOKEN_CACHE(renameat);
ACTOKEN_CACHE(unlink);
ACTOKEN_CACHE(unlinkat);
ACTOKEN_CACHE(fsync);
ACTOKEN_CACHE(fchmod);
ACTOKEN_CACHE(fchown);
ACTOKEN_CACHE(poll);
ACTOKEN_CACHE(__poll_chk);
ACTOKEN_CACHE(mkostemp);
ACTOKEN_CACHE(pipe2);
ACTOKEN_CACHE(posix_spawn);
ACTOKEN_CACHE(posix_spawnp);
ACTOKEN_CACHE(flock);
ACTOKEN_CACHE(mlock);
ACTOKEN_CACHE(madvise);
ACTOKEN_CACHE(getrlimit);
ACTOKEN_CACHE(setrlimit);
ACTOKEN_CACHE(bind);
ACTOKEN_CACHE(listen);
ACTOKEN_CACHE(getsockname);
ACTOKEN_CACHE(tcgetattr);
ACTOKEN_CACHE(tcsetattr);
ACTOKEN_CACHE(getpwnam_r);
ACTOKEN_CACHE(getpwuid_r);
ACTOKEN_CACHE(getgrnam_r);
ACTOKEN_CACHE(getgrgid_r);
ACTOKEN_CACHE(posix_spawn_file_actions_addopen);
ACTOKEN_CACHE(posix_spawnattr_init);
ACTOKEN_CACHE(waitpid);
ACTOKEN_CACHE(access);
ACTOKEN_CACHE(waitid);
ACTOKEN_CACHE(readlinkat);
ACTOKEN_CACHE(readlink);
ACTOKEN_CACHE(fdopendir);
ACTOKEN_CACHE(fchownat);

// Fails the call: errno set, -1 returned.
int failed(int error) {
  errno = error;
  return -1;
}

std::size_t cut(std::size_t size, long short_count) {
  return short_count >= 0 && static_cast<std::size_t>(short_count) < size
             ? static_cast<std::size_t>(short_count)
             : size;
}

}  // namespace

fault_scope::fault_scope(fault planned) : slot_(-1) {
  for (int i = 0; i < slot_count; ++i) {
    if (!slots[i].armed) {
      slot_ = i;
      break;
    }
  }
  if (slot_ < 0) throw std::logic_error("more than 8 faults armed at once");
  if (planned.call.size() >= sizeof slots[0].call ||
      planned.path_contains.size() >= sizeof slots[0].path_contains) {
    throw std::logic_error("fault call or path filter too long");
  }
  slot& s = slots[slot_];
  s = slot{};
  std::memcpy(s.call, planned.call.c_str(), planned.call.size() + 1);
  std::memcpy(s.path_contains, planned.path_contains.c_str(), planned.path_contains.size() + 1);
  s.error = planned.error;
  s.skip = planned.skip;
  s.times = planned.times;
  s.short_count = planned.short_count;
  s.armed = true;
}

fault_scope::~fault_scope() { slots[slot_].armed = false; }

int fault_scope::hits() const { return slots[slot_].hits; }

}  // namespace actoken::testing

using actoken::testing::cut;
using actoken::testing::failed;
using actoken::testing::planned_failure;
using namespace actoken::testing;

// Each function: the fault's verdict first, then libc. Declarations in
// glibc's headers carry noexcept where glibc says __THROW; these match.
extern "C" {

int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list args;
    va_start(args, flags);
    mode = static_cast<mode_t>(va_arg(args, int));
    va_end(args);
  }
  if (const auto v = planned_failure("open", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(open)(path, flags, mode);
}

int __open_2(const char* path, int flags) {
  if (const auto v = planned_failure("open", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(__open_2)(path, flags);
}

int openat(int dir, const char* path, int flags, ...) {
  mode_t mode = 0;
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list args;
    va_start(args, flags);
    mode = static_cast<mode_t>(va_arg(args, int));
    va_end(args);
  }
  if (const auto v = planned_failure("openat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(openat)(dir, path, flags, mode);
}

int __openat_2(int dir, const char* path, int flags) {
  if (const auto v = planned_failure("openat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(__openat_2)(dir, path, flags);
}

ssize_t read(int fd, void* buffer, size_t size) {
  const auto v = planned_failure("read");
  if (v.fail) return failed(v.error);
  return ACTOKEN_REAL(read)(fd, buffer, cut(size, v.short_count));
}

ssize_t __read_chk(int fd, void* buffer, size_t size, size_t buffer_size) {
  const auto v = planned_failure("read");
  if (v.fail) return failed(v.error);
  return ACTOKEN_REAL(__read_chk)(fd, buffer, cut(size, v.short_count), buffer_size);
}

ssize_t write(int fd, const void* buffer, size_t size) {
  const auto v = planned_failure("write");
  if (v.fail) return failed(v.error);
  return ACTOKEN_REAL(write)(fd, buffer, cut(size, v.short_count));
}

ssize_t send(int fd, const void* buffer, size_t size, int flags) {
  const auto v = planned_failure("send");
  if (v.fail) return failed(v.error);
  return ACTOKEN_REAL(send)(fd, buffer, cut(size, v.short_count), flags);
}

ssize_t sendmsg(int fd, const msghdr* message, int flags) {
  const auto v = planned_failure("sendmsg");
  if (v.fail) return failed(v.error);
  constexpr std::size_t max_pieces = 16;
  if (v.short_count < 0 || message->msg_iovlen > max_pieces) {
    return ACTOKEN_REAL(sendmsg)(fd, message, flags);
  }
  // The same message cut to its first short_count bytes, across its pieces;
  // on the stack: an interposed call must not allocate.
  iovec pieces[max_pieces];
  std::size_t count = 0;
  auto left = static_cast<std::size_t>(v.short_count);
  for (std::size_t i = 0; i < message->msg_iovlen && left > 0; ++i, ++count) {
    pieces[count] = message->msg_iov[i];
    pieces[count].iov_len = cut(pieces[count].iov_len, static_cast<long>(left));
    left -= pieces[count].iov_len;
  }
  msghdr shorter = *message;
  shorter.msg_iov = pieces;
  shorter.msg_iovlen = count;
  return ACTOKEN_REAL(sendmsg)(fd, &shorter, flags);
}

ssize_t recv(int fd, void* buffer, size_t size, int flags) {
  const auto v = planned_failure("recv");
  if (v.fail) return failed(v.error);
  return ACTOKEN_REAL(recv)(fd, buffer, cut(size, v.short_count), flags);
}

ssize_t __recv_chk(int fd, void* buffer, size_t size, size_t buffer_size, int flags) {
  const auto v = planned_failure("recv");
  if (v.fail) return failed(v.error);
  return ACTOKEN_REAL(__recv_chk)(fd, buffer, cut(size, v.short_count), buffer_size, flags);
}

int connect(int fd, const sockaddr* address, socklen_t length) {
  if (const auto v = planned_failure("connect"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(connect)(fd, address, length);
}

int socket(int domain, int type, int protocol) noexcept {
  if (const auto v = planned_failure("socket"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(socket)(domain, type, protocol);
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* length) noexcept {
  if (const auto v = planned_failure("getsockopt"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(getsockopt)(fd, level, name, value, length);
}

int fcntl(int fd, int command, ...) {
  va_list args;
  va_start(args, command);
  void* argument = va_arg(args, void*);
  va_end(args);
  if (const auto v = planned_failure("fcntl"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(fcntl)(fd, command, argument);
}

int fstat(int fd, struct stat* info) noexcept {
  if (const auto v = planned_failure("fstat"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(fstat)(fd, info);
}

int stat(const char* path, struct stat* info) noexcept {
  if (const auto v = planned_failure("stat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(stat)(path, info);
}

int lstat(const char* path, struct stat* info) noexcept {
  if (const auto v = planned_failure("lstat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(lstat)(path, info);
}

int fstatat(int dir, const char* path, struct stat* info, int flags) noexcept {
  if (const auto v = planned_failure("fstatat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(fstatat)(dir, path, info, flags);
}

int mkdir(const char* path, mode_t mode) noexcept {
  if (const auto v = planned_failure("mkdir", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(mkdir)(path, mode);
}

int mkdirat(int dir, const char* path, mode_t mode) noexcept {
  if (const auto v = planned_failure("mkdirat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(mkdirat)(dir, path, mode);
}

int rename(const char* from, const char* to) noexcept {
  if (const auto v = planned_failure("rename", to); v.fail) return failed(v.error);
  return ACTOKEN_REAL(rename)(from, to);
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) noexcept {
  if (const auto v = planned_failure("renameat", to); v.fail) return failed(v.error);
  return ACTOKEN_REAL(renameat)(from_dir, from, to_dir, to);
}

int unlink(const char* path) noexcept {
  if (const auto v = planned_failure("unlink", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(unlink)(path);
}

int unlinkat(int dir, const char* path, int flags) noexcept {
  if (const auto v = planned_failure("unlinkat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(unlinkat)(dir, path, flags);
}

int fsync(int fd) {
  if (const auto v = planned_failure("fsync"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(fsync)(fd);
}

int fchmod(int fd, mode_t mode) noexcept {
  if (const auto v = planned_failure("fchmod"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(fchmod)(fd, mode);
}

int fchown(int fd, uid_t owner, gid_t group) noexcept {
  if (const auto v = planned_failure("fchown"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(fchown)(fd, owner, group);
}

int poll(pollfd* fds, nfds_t count, int timeout) {
  if (const auto v = planned_failure("poll"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(poll)(fds, count, timeout);
}

int __poll_chk(pollfd* fds, nfds_t count, int timeout, size_t fds_size) {
  if (const auto v = planned_failure("poll"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(__poll_chk)(fds, count, timeout, fds_size);
}

int mkostemp(char* pattern, int flags) {
  if (const auto v = planned_failure("mkostemp", pattern); v.fail) return failed(v.error);
  return ACTOKEN_REAL(mkostemp)(pattern, flags);
}

int pipe2(int fds[2], int flags) noexcept {
  if (const auto v = planned_failure("pipe2"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(pipe2)(fds, flags);
}

// posix_spawn reports failure as its return value, not in errno.
int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  if (const auto v = planned_failure("posix_spawn", path); v.fail) return v.error;
  return ACTOKEN_REAL(posix_spawn)(pid, path, actions, attributes, argv, envp);
}

int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                 const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  if (const auto v = planned_failure("posix_spawnp", file); v.fail) return v.error;
  return ACTOKEN_REAL(posix_spawnp)(pid, file, actions, attributes, argv, envp);
}

int flock(int fd, int operation) noexcept {
  if (const auto v = planned_failure("flock"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(flock)(fd, operation);
}

int mlock(const void* address, size_t length) noexcept {
  if (const auto v = planned_failure("mlock"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(mlock)(address, length);
}

int madvise(void* address, size_t length, int advice) noexcept {
  if (const auto v = planned_failure("madvise"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(madvise)(address, length, advice);
}

int getrlimit(__rlimit_resource_t resource, rlimit* limit) noexcept {
  if (const auto v = planned_failure("getrlimit"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(getrlimit)(resource, limit);
}

int setrlimit(__rlimit_resource_t resource, const rlimit* limit) noexcept {
  if (const auto v = planned_failure("setrlimit"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(setrlimit)(resource, limit);
}

int bind(int fd, const sockaddr* address, socklen_t length) noexcept {
  if (const auto v = planned_failure("bind"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(bind)(fd, address, length);
}

int listen(int fd, int backlog) noexcept {
  if (const auto v = planned_failure("listen"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(listen)(fd, backlog);
}

int getsockname(int fd, sockaddr* address, socklen_t* length) noexcept {
  if (const auto v = planned_failure("getsockname"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(getsockname)(fd, address, length);
}

int tcgetattr(int fd, termios* settings) noexcept {
  if (const auto v = planned_failure("tcgetattr"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(tcgetattr)(fd, settings);
}

int tcsetattr(int fd, int when, const termios* settings) noexcept {
  if (const auto v = planned_failure("tcsetattr"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(tcsetattr)(fd, when, settings);
}

int waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  if (const auto v = planned_failure("waitid"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(waitid)(type, id, info, options);
}

ssize_t readlinkat(int dir, const char* path, char* buffer, size_t size) noexcept {
  if (const auto v = planned_failure("readlinkat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(readlinkat)(dir, path, buffer, size);
}

ssize_t readlink(const char* path, char* buffer, size_t size) noexcept {
  if (const auto v = planned_failure("readlink", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(readlink)(path, buffer, size);
}

DIR* fdopendir(int fd) {
  if (const auto v = planned_failure("fdopendir"); v.fail) {
    errno = v.error;
    return nullptr;
  }
  return ACTOKEN_REAL(fdopendir)(fd);
}

int access(const char* path, int mode) noexcept {
  if (const auto v = planned_failure("access", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(access)(path, mode);
}

int fchownat(int dir, const char* path, uid_t owner, gid_t group, int flags) noexcept {
  if (const auto v = planned_failure("fchownat", path); v.fail) return failed(v.error);
  return ACTOKEN_REAL(fchownat)(dir, path, owner, group, flags);
}

// The get*_r calls and posix_spawn's set-up calls answer an error number.
int getpwnam_r(const char* name, passwd* entry, char* buffer, size_t size, passwd** found) {
  if (const auto v = planned_failure("getpwnam_r", name); v.fail) {
    *found = nullptr;
    return v.error;
  }
  return ACTOKEN_REAL(getpwnam_r)(name, entry, buffer, size, found);
}

int getpwuid_r(uid_t uid, passwd* entry, char* buffer, size_t size, passwd** found) {
  if (const auto v = planned_failure("getpwuid_r"); v.fail) {
    *found = nullptr;
    return v.error;
  }
  return ACTOKEN_REAL(getpwuid_r)(uid, entry, buffer, size, found);
}

int getgrnam_r(const char* name, group* entry, char* buffer, size_t size, group** found) {
  if (const auto v = planned_failure("getgrnam_r", name); v.fail) {
    *found = nullptr;
    return v.error;
  }
  return ACTOKEN_REAL(getgrnam_r)(name, entry, buffer, size, found);
}

int getgrgid_r(gid_t gid, group* entry, char* buffer, size_t size, group** found) {
  if (const auto v = planned_failure("getgrgid_r"); v.fail) {
    *found = nullptr;
    return v.error;
  }
  return ACTOKEN_REAL(getgrgid_r)(gid, entry, buffer, size, found);
}

int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t* actions, int fd, const char* path,
                                     int flags, mode_t mode) noexcept {
  if (const auto v = planned_failure("posix_spawn_file_actions_addopen", path); v.fail) {
    return v.error;
  }
  return ACTOKEN_REAL(posix_spawn_file_actions_addopen)(actions, fd, path, flags, mode);
}

int posix_spawnattr_init(posix_spawnattr_t* attributes) noexcept {
  if (const auto v = planned_failure("posix_spawnattr_init"); v.fail) return v.error;
  return ACTOKEN_REAL(posix_spawnattr_init)(attributes);
}

pid_t waitpid(pid_t pid, int* status, int options) {
  if (const auto v = planned_failure("waitpid"); v.fail) return failed(v.error);
  return ACTOKEN_REAL(waitpid)(pid, status, options);
}

}  // extern "C"
