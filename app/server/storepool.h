#pragma once

#include "databaseurl.h"

#include <QAtomicInt>
#include <QMetaObject>
#include <QObject>
#include <QPointer>
#include <QThreadPool>
#include <functional>
#include <memory>
#include <utility>

class SagaStore;

// Slow reads (SQL) off the server thread: a small QThreadPool whose threads
// each own one SagaStore (a QSqlDatabase connection is used only by the thread
// that opened it). `run` does the work on a pool thread and hands the result to
// `done` in the thread of `context` through a queued call.
class StorePool : public QObject
{
    Q_OBJECT
public:
    StorePool(const DatabaseUrl &url, int threads, QObject *parent = nullptr);
    ~StorePool() override; // waits for running work

    // `work` gets this thread's store, or nullptr when the database cannot be
    // opened (answer 503). `context` must outlive the pool or be a QObject that
    // is deleted in its own thread (queued calls to a deleted object are dropped).
    template<typename Result>
    void run(QObject *context, std::function<Result(SagaStore *)> work,
             std::function<void(Result)> done)
    {
        QPointer<QObject> guard(context);
        m_pool.start([this, guard, work = std::move(work), done = std::move(done)]() mutable {
            Result result = work(storeForThisThread());
            if (!guard)
                return;
            QMetaObject::invokeMethod(
                guard.data(),
                [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); },
                Qt::QueuedConnection);
        });
    }

    int pendingOrRunning() const { return m_pool.activeThreadCount(); }
    const DatabaseUrl &url() const { return m_url; }

private:
    SagaStore *storeForThisThread();

    DatabaseUrl m_url;
    QAtomicInt m_outage; // 1 while read connections cannot open the database (logged once)
    QThreadPool m_pool;
};
