// The lab's C++ front end: a FastCGI responder on libfcgi, behind Apache's mod_proxy_fcgi.
//
// Why this shape: it is what a C++ service behind Apache looks like with Debian's packages only
// (libfcgi-dev), and it fails the way PHP-FPM does (a dead responder behind a live Apache answers
// 503 through Apache). Usage: cg-fcgi-app HOST:PORT [THREADS]. It answers
//   /api/health  -> 200 "ok cpp <hostname>"        (what haproxy's layer-7 check reads)
//   /api/hello   -> 200 "hello from C++ on <hostname>"
//   /api/slow?ms=N -> the same after N ms (N <= 30000)
//   anything else -> 404
// with an X-Served-By header naming the VM, so the probe can count who answered.
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

static int listen_fd = -1;
static char host[256] = "unknown";
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;

static std::string param(FCGX_Request &req, const char *name) {
    const char *v = FCGX_GetParam(name, req.envp);
    return v ? std::string(v) : std::string();
}

static void answer(FCGX_Request &req) {
    std::string uri = param(req, "REQUEST_URI");
    std::string path = uri.substr(0, uri.find('?'));
    std::string query = uri.find('?') == std::string::npos ? "" : uri.substr(uri.find('?') + 1);
    int status = 200;
    std::string body;
    if (path == "/api/health") {
        body = std::string("ok cpp ") + host + "\n";
    } else if (path == "/api/hello") {
        body = std::string("hello from C++ on ") + host + "\n";
    } else if (path == "/api/slow") {
        long ms = 0;
        if (query.rfind("ms=", 0) == 0) ms = std::strtol(query.c_str() + 3, nullptr, 10);
        if (ms < 0) ms = 0;
        if (ms > 30000) ms = 30000;
        usleep(static_cast<useconds_t>(ms) * 1000);
        body = std::string("slow C++ answer on ") + host + "\n";
    } else {
        status = 404;
        body = "not found\n";
    }
    char head[512];  // FCGX_FPrintF knows no %zu: the header is formatted here, then written as is
    int n = std::snprintf(head, sizeof head,
                          "Status: %d\r\nContent-Type: text/plain\r\nX-Served-By: %s\r\nContent-Length: %lu\r\n\r\n",
                          status, host, static_cast<unsigned long>(body.size()));
    FCGX_PutStr(head, n, req.out);
    FCGX_PutStr(body.data(), static_cast<int>(body.size()), req.out);
}

static void *serve(void *) {
    FCGX_Request req;
    FCGX_InitRequest(&req, listen_fd, 0);
    for (;;) {
        pthread_mutex_lock(&accept_lock);
        int rc = FCGX_Accept_r(&req);
        pthread_mutex_unlock(&accept_lock);
        if (rc < 0) break;
        answer(req);
        FCGX_Finish_r(&req);
    }
    return nullptr;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s HOST:PORT [THREADS]\n", argv[0]);
        return 2;
    }
    int threads = argc > 2 ? std::atoi(argv[2]) : 4;
    if (threads < 1 || threads > 64) threads = 4;
    gethostname(host, sizeof host - 1);
    FCGX_Init();
    // libfcgi catches SIGTERM to end its accept loop gracefully, which never wakes threads blocked in
    // accept(): a stopped service must die like any other daemon, so the defaults come back.
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    listen_fd = FCGX_OpenSocket(argv[1], 128);
    if (listen_fd < 0) {
        std::fprintf(stderr, "%s: cannot listen on %s\n", argv[0], argv[1]);
        return 1;
    }
    pthread_t ids[64];
    for (int i = 0; i < threads; i++) pthread_create(&ids[i], nullptr, serve, nullptr);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], nullptr);
    return 0;
}
