#include "threadexit.h"

#include <QThread>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace {
std::atomic<int> g_leftRunning{0};
}

namespace ThreadExit {

bool waitOrLeave(QThread *thread, int waitMs)
{
    if (thread->wait(waitMs)) {
        delete thread;
        return true;
    }
    ++g_leftRunning;
    auto counted = std::make_shared<std::atomic<bool>>(true);
    const auto ended = [thread, counted] {
        if (counted->exchange(false)) {
            --g_leftRunning;
            thread->deleteLater();
        }
    };
    QObject::connect(thread, &QThread::finished, thread, ended);
    if (thread->isFinished()) // ended meanwhile: finished() may have come before the connection
        ended();
    return false;
}

int leftRunning()
{
    return g_leftRunning;
}

int processExitCode(int code)
{
    if (g_leftRunning > 0) {
        std::fflush(nullptr);
        std::_Exit(code);
    }
    return code;
}

} // namespace ThreadExit
