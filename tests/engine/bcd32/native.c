/* Native half of the BCD check: the 32-bit code runs in a compat-mode
 * (0x23) segment of this process; prints one line per input. See vm.c. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
extern const unsigned char blob_start[], blob_end[], blob_op[];
int main(void){
 unsigned char *p=mmap(NULL,8192,PROT_READ|PROT_WRITE|PROT_EXEC,MAP_PRIVATE|MAP_ANONYMOUS|MAP_32BIT,-1,0);
 size_t n=blob_end-blob_start; memcpy(p,blob_start,n);
 /* farptr: find it: 8-byte aligned after tramp; patch with code32 addr */
 extern const unsigned char blob_start[];
 extern const unsigned char code32[], farptr[]; uint32_t *fp=(uint32_t*)(p+(farptr-blob_start));
 *fp=(uint32_t)(uintptr_t)(p+(code32-blob_start));
 unsigned char *op=p+(blob_op-blob_start);
 int ops[][3]={{0x27,0x90,0x90},{0x2f,0x90,0x90},{0x37,0x90,0x90},{0x3f,0x90,0x90},{0xd4,0x0a,0x90},{0xd5,0x0a,0x90},{0xd4,0x07,0x90},{0xd5,0x07,0x90}};
 for(int o=0;o<8;o++){op[0]=ops[o][0];op[1]=ops[o][1];op[2]=ops[o][2];
  for(unsigned ax=0;ax<0x10000;ax+=0x0101 /*some*/){ for(unsigned fl=0;fl<4;fl++){
   uint32_t *d=(uint32_t*)(p+4096); d[0]=ax | 0x12340000; d[1]=0x2 | (fl&1) | ((fl&2)?0x10:0) | 0x8c4*0;
   ((void(*)(void*))p)(d);
   printf("%02x %04x %x %04x %03x\n",ops[o][0]|(ops[o][1]<<8),ax,fl,d[0]&0xffff,d[1]&0x8d5);}}
  for(unsigned al=0;al<256;al++){ for(unsigned fl=0;fl<4;fl++){
   uint32_t *d=(uint32_t*)(p+4096); d[0]=al|0x5600; d[1]=0x2 | (fl&1) | ((fl&2)?0x10:0);
   ((void(*)(void*))p)(d);
   printf("%02x %04x %x %04x %03x\n",ops[o][0]|(ops[o][1]<<8),al|0x5600,fl,d[0]&0xffff,d[1]&0x8d5);}}
 }
}
