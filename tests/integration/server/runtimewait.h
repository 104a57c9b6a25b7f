#pragma once

// Test helpers for an in-process ServerRuntime: start it and wait until it
// listens; shut it down and wait until it stopped. Header-only.

#include "serverruntime.h"

#include <QSignalSpy>
#include <QString>

// Starts `runtime`. Empty once it listens; else why not (its failure, or no
// ready signal within 60 s).
inline QString startAndWait(ServerRuntime &runtime)
{
    QSignalSpy ready(&runtime, &ServerRuntime::ready);
    QSignalSpy failed(&runtime, &ServerRuntime::failed);
    if (!ready.isValid() || !failed.isValid())
        return QStringLiteral("cannot watch the runtime's signals");
    runtime.start();
    if (ready.wait(60000) || !ready.isEmpty())
        return {};
    return failed.isEmpty() ? QStringLiteral("no ready signal") : failed.first().first().toString();
}

// Shuts `runtime` down; false when it did not stop within 30 s.
inline bool shutDownAndWait(ServerRuntime &runtime)
{
    QSignalSpy stopped(&runtime, &ServerRuntime::stopped);
    runtime.shutdown();
    return stopped.wait(30000) || !stopped.isEmpty();
}
