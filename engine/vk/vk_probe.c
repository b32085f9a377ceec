/* hk_vk_probe_gpu (vk.h): "is there a GPU for auto?" answered by a child
 * process, so the drivers the answer needed never load into this one. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vk/vk.h"

enum { N_CACHED = 8 };

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static int8_t cache[N_CACHED + 1]; /* index + 1 -> 0 unknown, 1 yes, 2 no */

/* In the child: opens as hk_vk_open would, says yes or no, exits without
 * running the parent's atexit handlers or flushing its stdio. */
_Noreturn static void child_answer(int fd, int index)
{
    hk_error err;
    hk_vk *vk = hk_vk_open(index, false, &err);
    char answer = vk ? 'y' : 'n';
    ssize_t w;
    do
        w = write(fd, &answer, 1);
    while (w < 0 && errno == EINTR);
    _exit(0);
}

static bool ask_child(int index)
{
    int fd[2];
    if (pipe(fd) != 0)
        return false;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return false;
    }
    if (pid == 0) {
        close(fd[0]);
        child_answer(fd[1], index);
    }
    close(fd[1]);
    char answer = 'n';
    ssize_t r;
    do
        r = read(fd[0], &answer, 1);
    while (r < 0 && errno == EINTR);
    close(fd[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    /* a child that crashed in a driver wrote nothing: no GPU for auto */
    return r == 1 && answer == 'y';
}

bool hk_vk_probe_gpu(int index)
{
    if (index < -1 || index >= N_CACHED)
        return ask_child(index);
    pthread_mutex_lock(&cache_lock);
    int8_t *c = &cache[index + 1];
    if (*c == 0)
        *c = ask_child(index) ? 1 : 2;
    bool yes = *c == 1;
    pthread_mutex_unlock(&cache_lock);
    return yes;
}
