#include "storereader.h"

#include "storereaderworker.h"

StoreReader::StoreReader(const DatabaseUrl &url, const QString &connectionName, QObject *parent)
    : QObject(parent)
    , m_url(url)
    , m_connectionName(connectionName)
{
    m_thread.setObjectName(QStringLiteral("store-reader"));
    m_worker = new StoreReaderWorker(url, connectionName); // parentless: moved to m_thread
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &StoreReaderWorker::opened, this, &StoreReader::opened);
    connect(m_worker, &StoreReaderWorker::listening, this, &StoreReader::listening);
    connect(m_worker, &StoreReaderWorker::notified, this, &StoreReader::notified);
}

StoreReader::~StoreReader()
{
    if (m_thread.isRunning() || m_thread.isFinished()) {
        m_thread.quit();
        m_thread.wait(); // finished -> deleteLater has deleted the worker
        return;
    }
    // Never started (a source replaced or closed before its engine or database was
    // up): no finished() will come to delete the worker, and its thread never ran,
    // so nothing else can touch it. Deleting it also drops the jobs queued for it.
    delete m_worker;
}

void StoreReader::start()
{
    if (!m_thread.isRunning())
        m_thread.start();
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
