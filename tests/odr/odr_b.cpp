#include <secformer/secformer.hpp>
#include <secformer/channel/tcp.hpp>
#include <secformer/text/wordpiece.hpp>
double odr_b() {
  double r = 0;
  secformer::run_solo(2, [&](auto& ctx) { r = ctx.reveal(ctx.input(secformer::party<1>, xt::xarray<double>{2.0}))(0); });
  return r;
}
