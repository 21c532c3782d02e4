// Asio, Asio SSL and Beast compiled once for the whole project (separate
// compilation): every other translation unit only sees their declarations.
// See https://www.boost.org/doc/libs/1_81_0/doc/html/boost_asio/using.html
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
