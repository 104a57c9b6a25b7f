#include "storereader.h"

#include "storereaderworker.h"

#include "sagalog.h"
#include "threadexit.h"

#include <atomic>

namespace {
// How long a reader that is destroyed waits for its thread: a job in progress
// normally ends well within it.
constexpr int kWaitForThreadMs = 500;

QString uniqueConnectionName(const QString &name)
{
    static std::atomic<quint64> serial{0};
    return QStringLiteral("%1-%2").arg(name).arg(++serial);
}
} // namespace

StoreReader::StoreReader(const DatabaseUrl &url, const QString &connectionName, QObject *parent)
    : QObject(parent)
    , m_url(url)
    , m_connectionName(uniqueConnectionName(connectionName))
    , m_thread(new QThread)
{
    m_thread->setObjectName(QStringLiteral("store-reader"));
    m_worker = new StoreReaderWorker(url, m_connectionName); // parentless: moved to m_thread
    m_worker->moveToThread(m_thread);
    connect(m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &StoreReaderWorker::opened, this, &StoreReader::opened);
    connect(m_worker, &StoreReaderWorker::listening, this, &StoreReader::listening);
    connect(m_worker, &StoreReaderWorker::notified, this, &StoreReader::notified);
}

StoreReader::~StoreReader()
{
    *m_alive = false; // answers still on their way are dropped
    QThread *thread = m_thread;
    if (!thread->isRunning() && !thread->isFinished()) {
        // Never started (a source replaced or closed before its engine or database was
        // up): no finished() will come to delete the worker, and its thread never ran,
        // so nothing else can touch it. Deleting it also drops the jobs queued for it.
        delete m_worker;
        delete thread;
        return;
    }
    thread->quit();
    // A job still running after the wait is a query the database does not answer (a
    // frozen server keeps its connection, so no timeout ends it): waiting would hang
    // the GUI thread (File > Connect, Quit) until it answers, if ever. The thread
    // ends after that job (the later ones are dropped), deletes its worker, then itself.
    if (!ThreadExit::waitOrLeave(thread, kWaitForThreadMs))
        qCWarning(lcSources).noquote() << "a read of" << m_url.toString()
                                       << "has not answered; left to end in the background";
}

void StoreReader::start()
{
    if (!m_thread->isRunning())
        m_thread->start();
    QMetaObject::invokeMethod(m_worker, &StoreReaderWorker::open, Qt::QueuedConnection);
}

void StoreReader::listen(const QString &channel)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, channel] { worker->listen(channel); }, Qt::QueuedConnection);
}

void StoreReader::runInThread(std::function<void(SagaStore &)> job)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, job = std::move(job)] { worker->runJob(job); },
        Qt::QueuedConnection);
}
