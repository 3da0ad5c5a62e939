/* Guest half: the same instructions in a 32-bit guest through KVM.
 *   gcc -O1 -o build/bcd_native tests/engine/bcd32/native.c tests/engine/bcd32/native_blob.S
 *   gcc -O1 -Itests/guest -o build/bcd_vm tests/engine/bcd32/vm.c tests/guest/tvm.c
 *   diff <(build/bcd_native) <(build/softkvm run -- build/bcd_vm)
 * DAA, DAS, AAA, AAS, AAM, AAD: results and flags, undefined ones too. */
#include "tvm.h"
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
int main(void){struct tvm t;memset(&t,0,sizeof t);if(tvm_create(&t,4<<20)||tvm_set_cpuid(&t)||tvm_setup_mode(&t,32,0x10000,0)){printf("fail %s\n",t.err);return 1;}
 int ops[][3]={{0x27,0x90,0x90},{0x2f,0x90,0x90},{0x37,0x90,0x90},{0x3f,0x90,0x90},{0xd4,0x0a,0x90},{0xd5,0x0a,0x90},{0xd4,0x07,0x90},{0xd5,0x07,0x90}};
 for(int o=0;o<8;o++){unsigned char c[]={0x8b,0x06,0xff,0x76,0x04,0x9d,ops[o][0],ops[o][1],ops[o][2],0x9c,0x8f,0x46,0x04,0x89,0x06,0xf4};
  memcpy(tvm_ptr(&t,0x10000),c,sizeof c);
  for(int pass=0;pass<2;pass++){ unsigned lim=pass?256:0x10000, step=pass?1:0x0101;
  for(unsigned ax=0;ax<lim;ax+=step){ for(unsigned fl=0;fl<4;fl++){
   unsigned v = pass? (ax|0x5600) : ax;
   uint32_t *d=tvm_ptr(&t,0x20000); d[0]=v|(pass?0:0x12340000); d[1]=0x2|(fl&1)|((fl&2)?0x10:0);
   struct kvm_regs r; ioctl(t.vcpu,KVM_GET_REGS,&r); r.rip=0x10000; r.rsi=0x20000; r.rsp=0x7000; r.rflags=2; ioctl(t.vcpu,KVM_SET_REGS,&r);
   ioctl(t.vcpu,KVM_RUN,0); if(t.run->exit_reason!=KVM_EXIT_HLT){printf("exit %d\n",t.run->exit_reason);return 1;}
   printf("%02x %04x %x %04x %03x\n",ops[o][0]|(ops[o][1]<<8),v&0xffff,fl,d[0]&0xffff,d[1]&0x8d5);}}}}
 tvm_destroy(&t);
 return 0;
}
