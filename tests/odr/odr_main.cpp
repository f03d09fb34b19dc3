// Two translation units that include every header link into one program (no ODR violations).
#include <iostream>
double odr_a();
double odr_b();
int main() {
  const bool ok = odr_a() == 1.0 && odr_b() == 2.0;
  std::cout << (ok ? "odr ok" : "odr FAILED") << "\n";
  return ok ? 0 : 1;
}
