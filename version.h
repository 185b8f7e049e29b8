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

#endif
