/* The platform kiln was compiled for, in Go's GOARCH names (what image
 * configs, manifests and BuildKit's TARGETARCH use). A string literal, so
 * it can be pasted: "linux/" KILN_HOST_ARCH. */
#ifndef KILN_PLATFORM_H
#define KILN_PLATFORM_H

#if defined(__x86_64__)
#define KILN_HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define KILN_HOST_ARCH "arm64"
#elif defined(__arm__)
#define KILN_HOST_ARCH "arm"
#elif defined(__riscv) && __riscv_xlen == 64
#define KILN_HOST_ARCH "riscv64"
#elif defined(__s390x__)
#define KILN_HOST_ARCH "s390x"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define KILN_HOST_ARCH "ppc64le"
#elif defined(__i386__)
#define KILN_HOST_ARCH "386"
#else
#define KILN_HOST_ARCH "unknown"
#endif

#endif
