#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "tools/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return relate::tools::Run(args, std::cout, std::cerr, ::isatty(STDERR_FILENO) != 0);
}
