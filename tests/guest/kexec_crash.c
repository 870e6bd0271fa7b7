// SPDX-License-Identifier: GPL-2.0
/*
 * kexec_crash: the kdump case's helper (busybox has no kexec).
 *
 *   kexec_crash load KERNEL INITRD CMDLINE
 *	loads KERNEL (a bzImage) and INITRD as the crash kernel with
 *	kexec_file_load(KEXEC_FILE_ON_CRASH): the kernel boots it when it
 *	panics. Prints the errno's name on failure (ENOEXEC: the bzImage cannot
 *	be loaded above 4 GiB, i.e. the kernel was built without
 *	CONFIG_RELOCATABLE).
 *   kexec_crash vmcore-check PADDR WORD
 *	in the capture kernel: finds the physical address PADDR in a PT_LOAD
 *	segment of /proc/vmcore and checks that the page there holds memhog's
 *	pattern from word WORD on (pattern.h). Exits 0 when all 512 words
 *	match, 1 when they do not, 2 when the page is not in the dump at all.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pattern.h"

#define PAGE 4096
#ifndef KEXEC_FILE_ON_CRASH
#define KEXEC_FILE_ON_CRASH 0x00000002
#endif

static int load(const char *kernel, const char *initrd, const char *cmdline)
{
	int kfd = open(kernel, O_RDONLY), ifd = open(initrd, O_RDONLY);

	if (kfd < 0 || ifd < 0) {
		perror("kexec_crash: open");
		return 1;
	}
	/* The length counts the terminating NUL. */
	if (syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1, cmdline,
		    KEXEC_FILE_ON_CRASH)) {
		int e = errno;

		printf("kexec_crash: kexec_file_load failed: %s (%s)\n",
		       e == ENOEXEC ? "ENOEXEC" : e == EPERM ? "EPERM" :
		       e == EINVAL ? "EINVAL" : e == ENOMEM ? "ENOMEM" :
		       e == EBUSY ? "EBUSY" : "other", strerror(e));
		return 1;
	}
	printf("kexec_crash: crash kernel loaded\n");
	return 0;
}

static int vmcore_check(uint64_t paddr, uint64_t word)
{
	int fd = open("/proc/vmcore", O_RDONLY);
	uint64_t page[PAGE / 8];
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int i, j, bad = 0;

	if (fd < 0) {
		perror("kexec_crash: /proc/vmcore");
		return 2;
	}
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64) {
		fprintf(stderr, "kexec_crash: /proc/vmcore is not ELF64\n");
		return 2;
	}
	for (i = 0; i < eh.e_phnum; i++) {
		off_t at;

		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + i * eh.e_phentsize) !=
		    sizeof(ph))
			return 2;
		if (ph.p_type != PT_LOAD || paddr < ph.p_paddr ||
		    paddr + PAGE > ph.p_paddr + ph.p_filesz)
			continue;
		at = ph.p_offset + (paddr - ph.p_paddr);
		if (pread(fd, page, PAGE, at) != PAGE) {
			perror("kexec_crash: reading /proc/vmcore");
			return 2;
		}
		for (j = 0; j < PAGE / 8; j++)
			bad += page[j] != pattern(word + j);
		printf("kexec_crash: 0x%llx is in segment [0x%llx, +0x%llx) at offset 0x%llx: %d of %d words differ (first: 0x%016llx)\n",
		       (unsigned long long)paddr,
		       (unsigned long long)ph.p_paddr,
		       (unsigned long long)ph.p_filesz,
		       (unsigned long long)at, bad, PAGE / 8,
		       (unsigned long long)page[0]);
		return bad ? 1 : 0;
	}
	printf("kexec_crash: 0x%llx is in no PT_LOAD segment of /proc/vmcore\n",
	       (unsigned long long)paddr);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "load"))
		return load(argv[2], argv[3], argv[4]);
	if (argc == 4 && !strcmp(argv[1], "vmcore-check"))
		return vmcore_check(strtoull(argv[2], NULL, 0),
				    strtoull(argv[3], NULL, 0));
	fprintf(stderr, "usage: kexec_crash load KERNEL INITRD CMDLINE\n"
		"       kexec_crash vmcore-check PADDR WORD\n");
	return 2;
}
