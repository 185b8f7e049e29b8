/*
 * version: the version string of hookd (the Makefile passes VERSION; a
 * build without it says "dev"), for --version, the start line and the
 * User-Agent of deliveries.
 */
#ifndef HOOKD_VERSION_H
#define HOOKD_VERSION_H

#ifndef HOOKD_VERSION
#define HOOKD_VERSION "dev"
#endif

/* 1 in the build with outbound TLS (make TLS=openssl, contract §13), 0 in
 * the plain one: code outside tls.c asks this instead of testing
 * HOOKD_TLS itself. */
#ifdef HOOKD_TLS
#define HOOKD_HAS_TLS 1
#else
#define HOOKD_HAS_TLS 0
#endif

#endif
