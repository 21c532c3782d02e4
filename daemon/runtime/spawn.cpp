#include "daemon/runtime/spawn.hpp"

#include <boost/asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace actoken {

void spawn_detached(const boost::asio::any_io_executor& executor, boost::asio::awaitable<void> task,
                    std::string what) {
  boost::asio::co_spawn(executor, std::move(task),
                        [what = std::move(what)](const std::exception_ptr& thrown) {
                          if (!thrown) return;
                          try {
                            std::rethrow_exception(thrown);
                          } catch (const std::exception& e) {
                            spdlog::error("{} failed: {}", what, e.what());
                          } catch (...) {
                            spdlog::error("{} failed: an exception of unknown type", what);
                          }
                        });
}

}  // namespace actoken
