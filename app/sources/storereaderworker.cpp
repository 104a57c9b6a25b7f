#include "storereaderworker.h"

#include "sagalog.h"
#include "sagastore.h"

#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QThread>

StoreReaderWorker::StoreReaderWorker(const DatabaseUrl &url, const QString &connectionName)
    : m_url(url)
    , m_connectionName(connectionName)
{
}

StoreReaderWorker::~StoreReaderWorker()
{
    QObject::disconnect(m_notificationConnection);
    m_store.reset();
    QSqlDatabase::removeDatabase(m_connectionName);
}

void StoreReaderWorker::open()
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (!m_store) {
        m_store = std::make_unique<SagaStore>(m_url, m_connectionName);
        m_store->setReadOnly(true); // the console reads what an engine made
    }
    const StoreError error = m_store->open();
    if (error)
        qCWarning(lcSources).noquote() << "cannot open" << m_url.toString() << ":" << error.message;
    Q_EMIT opened(error);
}

void StoreReaderWorker::runJob(const std::function<void(SagaStore &)> &job)
{
    Q_ASSERT(QThread::currentThread() == thread());
    if (!m_store) {
        m_store = std::make_unique<SagaStore>(m_url, m_connectionName);
        m_store->setReadOnly(true); // the console reads what an engine made
    }
    job(*m_store);
}

void StoreReaderWorker::listen(const QString &channel)
{
    Q_ASSERT(QThread::currentThread() == thread());
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    QSqlDriver *driver = db.isValid() ? db.driver() : nullptr;
    if (!driver || !db.isOpen() || !driver->hasFeature(QSqlDriver::EventNotifications)) {
        Q_EMIT listening(false, tr("The database connection is not open or cannot deliver notifications."));
        return;
    }
    // After a reconnect the driver forgot the old subscription (or still lists a
    // dead one): start from a clean slate.
    const bool again = driver->subscribedToNotifications().contains(channel);
    if (again)
        driver->unsubscribeFromNotification(channel);
    QObject::disconnect(m_notificationConnection);
    m_notificationConnection = connect(
        driver, &QSqlDriver::notification, this,
        [this](const QString &name, QSqlDriver::NotificationSource, const QVariant &payload) {
            Q_EMIT notified(name, payload.toString());
        });
    if (!driver->subscribeToNotification(channel)) {
        const QString reason = driver->lastError().text();
        qCWarning(lcSources).noquote() << "LISTEN" << channel << "failed:" << reason;
        Q_EMIT listening(false, reason);
        return;
    }
    // (Said once per connection: a reader that retries on the same connection subscribes again quietly.)
    if (again)
        qCDebug(lcSources).noquote() << "listening on" << channel << "again";
    else
        qCInfo(lcSources).noquote() << "listening on" << channel;
    Q_EMIT listening(true, {});
}
