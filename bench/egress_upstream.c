// SPDX-License-Identifier: MIT
/* egress_upstream.c: a small, fast loopback HTTP/1.1 server for bench/egress:
 * keep-alive GET only; "/bytes/N" answers N bytes, anything else a 13-byte body.
 * Usage: egress_upstream PORT (127.0.0.1 only; prints "ready PORT"). Not part of sbx. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define INBUF 16384
static char blob[1 << 20];

struct cl {
	int fd;
	char in[INBUF];
	size_t inlen;
	char head[128];
	size_t headlen, headoff;
	uint64_t body_left;
	const char *body;   /* small body, or NULL: blob */
};

static void cl_free(int ep, struct cl *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Write what is pending; 1 = done, 0 = blocked, -1 = error. */
static int cl_flush(struct cl *c)
{
	while (c->headoff < c->headlen) {
		ssize_t n = send(c->fd, c->head + c->headoff, c->headlen - c->headoff, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->headoff += (size_t)n;
	}
	while (c->body_left) {
		size_t k = c->body_left < sizeof(blob) ? (size_t)c->body_left : sizeof(blob);
		ssize_t n = send(c->fd, c->body ? c->body : blob, c->body ? (size_t)c->body_left : k, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (c->body)
			c->body += n;
		c->body_left -= (uint64_t)n;
	}
	return 1;
}

/* Serve complete requests in the input; 0 ok, -1 close. */
static int cl_serve(struct cl *c)
{
	for (;;) {
		char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
		uint64_t n = 13;
		const char *small = "hello, world\n";
		size_t hl;

		if (!end)
			return c->inlen >= INBUF ? -1 : 0;
		if (c->body_left || c->headoff < c->headlen)
			return 0;   /* previous answer still going out */
		hl = (size_t)(end + 4 - c->in);
		if (!strncmp(c->in, "GET /bytes/", 11)) {
			n = strtoull(c->in + 11, NULL, 10);
			small = NULL;
		}
		c->headlen = (size_t)snprintf(c->head, sizeof(c->head),
					      "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n", (unsigned long long)n);
		c->headoff = 0;
		c->body_left = n;
		c->body = small;
		memmove(c->in, c->in + hl, c->inlen - hl);
		c->inlen -= hl;
		if (cl_flush(c) < 0)
			return -1;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int lfd, ep, one = 1;
	struct epoll_event ev = { .events = EPOLLIN };

	signal(SIGPIPE, SIG_IGN);
	memset(blob, 'x', sizeof(blob));
	a.sin_port = htons(argc > 1 ? (uint16_t)atoi(argv[1]) : 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1024) < 0) {
		perror("listen");
		return 1;
	}
	getsockname(lfd, (struct sockaddr *)&a, &al);
	printf("ready %u\n", ntohs(a.sin_port));
	fflush(stdout);
	ep = epoll_create1(0);
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			struct cl *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
					c = calloc(1, sizeof(*c));
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					e.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				int r = cl_flush(c);
				if (r < 0 || (r == 1 && cl_serve(c) < 0)) {
					cl_free(ep, c);
					continue;
				}
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				int dead = 0;
				for (;;) {
					ssize_t k = recv(c->fd, c->in + c->inlen, INBUF - c->inlen, 0);
					if (k == 0 || (k < 0 && errno != EAGAIN)) {
						dead = 1;
						break;
					}
					if (k < 0)
						break;
					c->inlen += (size_t)k;
					if (cl_serve(c) < 0) {
						dead = 1;
						break;
					}
					if (c->inlen >= INBUF)
						break;
				}
				if (dead)
					cl_free(ep, c);
			}
		}
	}
}
