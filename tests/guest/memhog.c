// SPDX-License-Identifier: GPL-2.0
/*
 * memhog: holds a checksummed pattern in anonymous memory so a test can check
 * that unplugging (which migrates the pages) loses no data.
 *
 *   memhog MIB READYFILE
 *
 * Fills MIB MiB with a pattern derived from each word's index, writes
 * READYFILE, then sleeps. On SIGUSR1 it checks every word and exits 0 when
 * all are intact, 1 (naming the first bad offset) otherwise. On SIGUSR2 it
 * checks every word and goes on holding the pattern: it writes READYFILE.check
 * (through a rename, so that it appears whole) with "intact" or "corrupt
 * OFFSET" (the soak checks after every step).
 *
 * With MEMHOG_PHYS_ABOVE=ADDR in the environment (the kdump case), it also
 * locks its memory (mlockall; with vm.compact_unevictable_allowed=0 the pages
 * then stay where they are) and writes a second line into READYFILE, "WORD
 * PADDR": the index of the first word of a page of the pattern whose
 * physical address, PADDR, is ADDR or above (read from /proc/self/pagemap,
 * which gives page frames to root only), so that a capture kernel can look
 * for it in /proc/vmcore.
 *
 * With MEMHOG_PIN=1 (the converge case) it also pins every page of the
 * pattern where it is: each MiB is vmspliced into a pipe of its own that is
 * never read, so each page has a reference that migration cannot move, as
 * pages under I/O have. alloc_contig_range() then fails with EBUSY on them,
 * whatever memory is free, and the references go when the process does.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pattern.h"

#define PAGE 4096UL

static volatile sig_atomic_t verify_requested, check_requested;

static void on_usr1(int sig)
{
	(void)sig;
	verify_requested = 1;
}

static void on_usr2(int sig)
{
	(void)sig;
	check_requested = 1;
}

/* The byte offset of the first word that is not the pattern, or -1. */
static long long first_corrupt(const uint64_t *mem, size_t words)
{
	size_t i;

	for (i = 0; i < words; i++)
		if (mem[i] != pattern(i))
			return (long long)(i * 8);
	return -1;
}

/* Writes the result of a check to READYFILE.check: "intact" or "corrupt OFFSET". */
static int write_check(const char *ready, const uint64_t *mem, size_t words)
{
	char tmp[4096], done[4096];
	long long bad = first_corrupt(mem, words);
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.check.tmp", ready);
	snprintf(done, sizeof(done), "%s.check", ready);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	if (bad < 0)
		fprintf(f, "intact\n");
	else
		fprintf(f, "corrupt %lld\n", bad);
	if (fclose(f))
		return -1;
	return rename(tmp, done);
}

/*
 * The first page of mem[0..words) at or above physical address `above`:
 * writes "WORD PADDR" to `out`. Returns 0, or -1 when there is none.
 */
static int find_phys(const uint64_t *mem, size_t words, uint64_t above,
		     FILE *out)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t i;

	if (fd < 0) {
		perror("memhog: /proc/self/pagemap");
		return -1;
	}
	for (i = 0; i < words; i += PAGE / 8) {
		uintptr_t va = (uintptr_t)&mem[i];
		uint64_t entry, paddr;

		if (pread(fd, &entry, 8, va / PAGE * 8) != 8)
			break;
		/* bit 63: present; bits 0-54: the page frame (0 without CAP_SYS_ADMIN) */
		if (!(entry >> 63))
			continue;
		paddr = (entry & ((1ULL << 55) - 1)) * PAGE;
		if (paddr && paddr >= above) {
			close(fd);
			return fprintf(out, "%zu 0x%llx\n", i,
				       (unsigned long long)paddr) < 0 ? -1 : 0;
		}
	}
	close(fd);
	fprintf(stderr, "memhog: no page at or above 0x%llx\n",
		(unsigned long long)above);
	return -1;
}

/*
 * Pins mem[0..words) in place: every MiB is vmspliced (without SPLICE_F_GIFT)
 * into a pipe that holds it until the process exits. Returns 0 or -1.
 */
static int pin_pages(uint64_t *mem, size_t words)
{
	size_t bytes = words * 8, off;
	size_t chunk = 1UL << 20;
	struct rlimit fds;

	/* Two descriptors per MiB. */
	fds.rlim_cur = fds.rlim_max = bytes / chunk * 2 + 64;
	if (setrlimit(RLIMIT_NOFILE, &fds)) {
		perror("memhog: setrlimit");
		return -1;
	}
	for (off = 0; off < bytes; off += chunk) {
		struct iovec iov = { (char *)mem + off, chunk };
		int p[2];

		if (pipe(p) || fcntl(p[1], F_SETPIPE_SZ, (int)chunk) < 0) {
			perror("memhog: pipe");
			return -1;
		}
		while (iov.iov_len) {
			ssize_t n = vmsplice(p[1], &iov, 1, 0);

			if (n <= 0) {
				perror("memhog: vmsplice");
				return -1;
			}
			iov.iov_base = (char *)iov.iov_base + n;
			iov.iov_len -= (size_t)n;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct sigaction sa2 = { .sa_handler = on_usr2 };
	sigset_t usr1, waitmask;
	size_t words, i;
	uint64_t *mem;
	const char *above = getenv("MEMHOG_PHYS_ABOVE");
	const char *pin = getenv("MEMHOG_PIN");
	FILE *ready;
	long mib;

	if (argc != 3 || (mib = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: memhog MIB READYFILE\n");
		return 2;
	}
	/* Blocked until sigsuspend() so a signal cannot slip in before the wait. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigaddset(&usr1, SIGUSR2);
	sigemptyset(&sa.sa_mask);
	sigemptyset(&sa2.sa_mask);
	if (sigprocmask(SIG_BLOCK, &usr1, &waitmask) ||
	    sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGUSR2, &sa2, NULL)) {
		perror("memhog: sigaction");
		return 2;
	}
	words = (size_t)mib << 20 >> 3;
	mem = mmap(NULL, words * 8, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("memhog: mmap");
		return 2;
	}
	if (above && mlockall(MCL_CURRENT | MCL_FUTURE)) {
		perror("memhog: mlockall");
		return 2;
	}
	for (i = 0; i < words; i++)
		mem[i] = pattern(i);
	if (pin && *pin == '1' && pin_pages(mem, words))
		return 2;
	ready = fopen(argv[2], "w");
	if (!ready || fprintf(ready, "%ld\n", mib) < 0 ||
	    (above && find_phys(mem, words, strtoull(above, NULL, 0), ready)) ||
	    fclose(ready)) {
		perror("memhog: ready file");
		return 2;
	}
	sigdelset(&waitmask, SIGUSR1);
	sigdelset(&waitmask, SIGUSR2);
	while (!verify_requested) {
		sigsuspend(&waitmask);
		if (check_requested) {
			check_requested = 0;
			if (write_check(argv[2], mem, words)) {
				perror("memhog: check file");
				return 2;
			}
		}
	}
	if (first_corrupt(mem, words) >= 0) {
		printf("memhog: corrupt word at offset %lld of %ld MiB\n",
		       first_corrupt(mem, words), mib);
		return 1;
	}
	printf("memhog: %ld MiB intact\n", mib);
	return 0;
}
