#pragma once

// A SagaStore in a thread of its own, for reading without ever touching the GUI
// thread (Qt: "Threads and the SQL Module": a connection is used only in the
// thread that opened it). StoreReader lives in the caller's thread and owns the
// QThread; the store and its connection are created, used and destroyed inside
// that thread by a parentless worker.
//
// run() queues a job into the thread and hands its result back to `done` in the
// thread of `context` (dropped if `context` is gone). Jobs run one at a time, in
// the order they were queued.
//
// PostgreSQL only: listen() subscribes the connection to a NOTIFY channel; the
// payloads arrive through notified(). A lost connection drops the subscription
// silently, so callers check with a cheap query and call listen() again after
// reconnecting.

#include "databaseurl.h"
#include "storeerror.h"

#include <QObject>
#include <QPointer>
#include <QThread>
#include <functional>
#include <memory>
#include <type_traits>

class SagaStore;
class StoreReaderWorker;

class StoreReader : public QObject
{
    Q_OBJECT
public:
    StoreReader(const DatabaseUrl &url, const QString &connectionName, QObject *parent = nullptr);
    // Quits the thread and waits for it a moment (deletes the worker if never started).
    // A job still running then (a query a frozen database does not answer) is not
    // waited for: the GUI thread would hang until the database answers, if ever. The
    // thread ends by itself after that job, and its answer is dropped.
    ~StoreReader() override;

    // Starts the thread and opens the store in it; emits opened() with why it did not
    // open (none when it did).
    void start();
    const DatabaseUrl &url() const { return m_url; }
    // The store's QSqlDatabase connection name (valid only inside jobs): the name
    // given, made unique in the process (a reader whose thread still ends may hold it).
    const QString &connectionName() const { return m_connectionName; }

    template<typename Job, typename Done>
    void run(Job job, QObject *context, Done done)
    {
        using R = std::invoke_result_t<Job, SagaStore &>;
        QPointer<QObject> guard(context);
        runInThread([post = poster(), job = std::move(job), guard, done = std::move(done)](SagaStore &store) mutable {
            auto result = std::make_shared<R>(job(store));
            post([guard, done = std::move(done), result] {
                if (guard)
                    done(std::move(*result));
            });
        });
    }

    // Thread-safe: runs `f` in this object's thread (used by jobs to hand over
    // partial results; dropped when this object is gone).
    void post(std::function<void()> f) { poster()(std::move(f)); }
    // post() for jobs to keep: it may be called after this object is gone (a job it
    // did not wait for), and then drops `f`.
    std::function<void(std::function<void()>)> poster() const
    {
        // Through the thread's object, which lives in this object's thread and is
        // deleted only once its thread has ended.
        return [relay = m_thread, alive = m_alive](std::function<void()> f) {
            QMetaObject::invokeMethod(
                relay,
                [alive, f = std::move(f)] {
                    if (*alive)
                        f();
                },
                Qt::QueuedConnection);
        };
    }

    // Subscribes to `channel` (PostgreSQL). The answer comes through listening().
    void listen(const QString &channel);

Q_SIGNALS:
    void opened(const StoreError &error); // none: open
    void listening(bool ok, const QString &error);
    void notified(const QString &channel, const QString &payload);

private:
    void runInThread(std::function<void(SagaStore &)> job);

    DatabaseUrl m_url;
    QString m_connectionName;
    QThread *m_thread = nullptr; // parentless: deleted by ~StoreReader, or once it has ended when a job still ran then
    std::shared_ptr<bool> m_alive = std::make_shared<bool>(true); // false once this object is gone (read in its thread)
    StoreReaderWorker *m_worker = nullptr; // lives in m_thread; deleted via finished -> deleteLater (or by ~StoreReader if never started)
};
