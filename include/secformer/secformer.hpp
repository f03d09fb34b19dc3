// secformer/secformer.hpp: the umbrella header (everything except the Asio TCP channel, which is
// included on its own: <secformer/channel/tcp.hpp>).
#pragma once

#include <xtensor/xio.hpp>  // printing of revealed tensors

#include "config.hpp"
#include "fwd.hpp"
#include "core/ring.hpp"
#include "core/party.hpp"
#include "core/fixed_point.hpp"
#include "core/gemm.hpp"
#include "core/share.hpp"
#include "channel/channel.hpp"
#include "channel/memory.hpp"
#include "dealer/prg.hpp"
#include "dealer/material.hpp"
#include "dealer/dealer.hpp"
#include "context.hpp"
#include "protocols/trunc.hpp"
#include "protocols/mul.hpp"
#include "protocols/matmul.hpp"
#include "protocols/compare.hpp"
#include "protocols/exp.hpp"
#include "protocols/div.hpp"
#include "protocols/rsqrt.hpp"
#include "protocols/sin.hpp"
#include "protocols/gelu.hpp"
#include "protocols/gelu_baselines.hpp"
#include "protocols/softmax.hpp"
#include "protocols/layernorm.hpp"
#include "protocols/suite.hpp"
#include "run.hpp"
