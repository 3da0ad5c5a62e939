#ifndef SOFTKVM_TOOLS_H
#define SOFTKVM_TOOLS_H

int cmd_info(int argc, char **argv);
int cmd_boot(int argc, char **argv);

#endif
