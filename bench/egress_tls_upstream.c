// SPDX-License-Identifier: MIT
/* egress_tls_upstream.c: a loopback HTTPS/1.1 server for bench/egress's interception
 * numbers: keep-alive GET only; "/bytes/N" answers N bytes, anything else a 13-byte body.
 * One thread per connection, blocking OpenSSL.
 * Usage: egress_tls_upstream PORT CERT KEY (127.0.0.1 only; prints "ready PORT"). Not
 * part of sbx. Build: cc -O2 -pthread -o X egress_tls_upstream.c -lssl -lcrypto */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define INBUF 16384
static char blob[1 << 20];
static SSL_CTX *ctx;

static int write_all(SSL *ssl, const char *p, size_t n)
{
	while (n) {
		int w = SSL_write(ssl, p, n > (1u << 30) ? 1 << 30 : (int)n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	SSL *ssl = SSL_new(ctx);
	char in[INBUF];
	size_t inlen = 0;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		goto out;
	for (;;) {
		char *end = memmem(in, inlen, "\r\n\r\n", 4);
		char head[128];
		uint64_t n = 13;
		int hl, k;

		if (!end) {
			if (inlen >= INBUF)
				goto out;
			k = SSL_read(ssl, in + inlen, (int)(INBUF - inlen));
			if (k <= 0)
				goto out;
			inlen += (size_t)k;
			continue;
		}
		if (!strncmp(in, "GET /bytes/", 11))
			n = strtoull(in + 11, NULL, 10);
		hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n",
			      (unsigned long long)n);
		memmove(in, end + 4, inlen - (size_t)(end + 4 - in));
		inlen -= (size_t)(end + 4 - in);
		if (write_all(ssl, head, (size_t)hl) < 0)
			goto out;
		if (n == 13 && write_all(ssl, "hello, world\n", 13) < 0)
			goto out;
		if (n == 13)
			continue;
		while (n) {
			size_t c = n < sizeof(blob) ? (size_t)n : sizeof(blob);
			if (write_all(ssl, blob, c) < 0)
				goto out;
			n -= c;
		}
	}
out:
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	pthread_attr_t attr;
	int lfd, one = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PORT CERT KEY\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(blob, 'x', sizeof(blob));
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1024) < 0) {
		perror("listen");
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&a, &al);
	printf("ready %u\n", ntohs(a.sin_port));
	fflush(stdout);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}
