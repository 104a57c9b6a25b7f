#include "storepool.h"

#include "sagalog.h"
#include "sagastore.h"

#include <QAtomicInt>
#include <QSemaphore>
#include <QThread>

namespace {

struct ThreadStore {
    const StorePool *owner = nullptr;
    std::unique_ptr<SagaStore> store;
};

thread_local ThreadStore t_store;
QAtomicInt g_connectionCounter;

} // namespace

StorePool::StorePool(const DatabaseUrl &url, int threads, QObject *parent)
    : QObject(parent)
    , m_url(url)
{
    m_pool.setMaxThreadCount(qMax(1, threads));
    m_pool.setExpiryTimeout(-1); // keep threads (and their connections) for the pool's life
}

StorePool::~StorePool()
{
    // Not waitForDone() first: it also ends the threads (QThreadPool resets).
    // Close every thread's connection in its own thread, now. Left to the
    // thread_local destructor it would run after QThread::wait() returned, while
    // the pthread exits, racing the process's exit handlers that tear down
    // QtSql's connection registry (seen as a SIGSEGV at shutdown). One task per
    // thread: each holds its thread until all have arrived, so no thread takes two;
    // they queue behind reads still running.
    const int threads = m_pool.maxThreadCount();
    QSemaphore arrived;
    QSemaphore go;
    for (int i = 0; i < threads; ++i) {
        m_pool.start([this, &arrived, &go] {
            if (t_store.owner == this)
                t_store.store.reset();
            arrived.release();
            go.acquire();
        });
    }
    arrived.acquire(threads);
    go.release(threads);
    m_pool.waitForDone();
}

SagaStore *StorePool::storeForThisThread()
{
    if (t_store.owner != this || !t_store.store) {
        t_store.store.reset();
        t_store.owner = this;
        const QString name = QStringLiteral("saga_server_read_%1").arg(g_connectionCounter.fetchAndAddRelaxed(1));
        t_store.store = std::make_unique<SagaStore>(m_url, name);
        // The engine made the database before the server reads; a file missing now
        // was deleted under the server: 503, not a new empty database.
        t_store.store->setReadOnly(true);
    }
    SagaStore *store = t_store.store.get();
    // PostgreSQL restarted, or ended this connection, since its last read: it is no
    // longer open, and a new one is made now instead of a 503 for the read that
    // would have found out.
    if (store->isOpen() && store->endedWhileIdle())
        qCDebug(lcServer) << "a read connection was ended by the database server; connecting again";
    if (!store->isOpen()) {
        const StoreError error = store->open();
        if (error) {
            // Said once per outage, whichever read thread meets it first.
            if (!m_outage.fetchAndStoreRelaxed(1))
                qCWarning(lcServer) << "read connections cannot open the database:" << error.message
                                    << "(answering 503 until it is back)";
            else
                qCDebug(lcServer) << "read connection still cannot open the database:" << error.message;
            return nullptr;
        }
        if (m_outage.fetchAndStoreRelaxed(0))
            qCInfo(lcServer) << "read connections reach the database again";
    }
    return store;
}
