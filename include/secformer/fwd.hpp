// secformer/fwd.hpp: forward declarations and aliases only.
#pragma once

#include <cstdint>

namespace secformer {

template <int I> struct Party;
struct Solo;
struct Int;
template <class Base, unsigned Scale> struct Scaled;
namespace trunc {
struct Local;
struct Dealer;
}  // namespace trunc
template <unsigned Frac, class Trunc> struct Fixed;
template <class Encoding, class Ring> struct Basic;
class MemoryChannel;
class TcpChannel;
class Prg;
struct Seed;
struct Cost;
class Stats;

}  // namespace secformer
