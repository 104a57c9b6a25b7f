#include "eventfeedworker.h"

#include "sagalog.h"
#include "sagastore.h"

#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>

namespace {
const QString kChannel = QStringLiteral("saga_events");
}

EventFeedWorker::EventFeedWorker(const DatabaseUrl &url, const QString &connectionName, int checkIntervalMs,
                                 int chunkSize)
    : m_url(url)
    , m_connectionName(connectionName)
    , m_chunkSize(qMax(1, chunkSize))
    , m_checkIntervalMs(qMax(10, checkIntervalMs))
{
}

EventFeedWorker::~EventFeedWorker()
{
    stop();
}

void EventFeedWorker::start(qint64 afterPosition)
{
    Q_ASSERT(QThread::currentThread() == thread());
    m_position = afterPosition;
    m_stopped = false;
    m_store = std::make_unique<SagaStore>(m_url, m_connectionName);
    m_store->setReadOnly(true);
    m_check = std::make_unique<QTimer>();
    m_check->setInterval(m_checkIntervalMs);
    connect(m_check.get(), &QTimer::timeout, this, &EventFeedWorker::check);
    m_check->start();
    if (connectAndListen())
        catchUp();
}

void EventFeedWorker::stop()
{
    m_stopped = true;
    m_check.reset();
    QObject::disconnect(m_notificationConnection);
    if (m_store) {
        m_store.reset();
        QSqlDatabase::removeDatabase(m_connectionName);
    }
}

bool EventFeedWorker::connectAndListen()
{
    const StoreError error = m_store->isOpen() ? m_store->reconnect() : m_store->open();
    if (error) {
        lost(error.message);
        return false;
    }
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!m_url.isPostgres()) {
        // SQLite has no notifications: the periodic check() reads the newest
        // position and catches up, so the feed polls at its check interval.
        if (m_position < 0 && !readStartPosition())
            return false;
        qCInfo(lcStore).noquote() << "event feed polling" << m_url.toString() << "every" << m_checkIntervalMs
                                  << "ms from position" << m_position;
        m_up = true;
        Q_EMIT listening(true, 0, {});
        return true;
    }
    QSqlDriver *driver = db.isValid() ? db.driver() : nullptr;
    if (!driver || !db.isOpen() || !driver->hasFeature(QSqlDriver::EventNotifications)) {
        lost(QStringLiteral("the connection cannot deliver notifications"));
        return false;
    }
    // After a reconnect the driver may still list the dead subscription.
    if (driver->subscribedToNotifications().contains(kChannel))
        driver->unsubscribeFromNotification(kChannel);
    QObject::disconnect(m_notificationConnection);
    m_notificationConnection = connect(driver, &QSqlDriver::notification, this,
                                       [this](const QString &name, QSqlDriver::NotificationSource, const QVariant &) {
                                           if (name == kChannel)
                                               scheduleCatchUp();
                                       });
    if (!driver->subscribeToNotification(kChannel)) {
        lost(QStringLiteral("LISTEN failed: ") + driver->lastError().text());
        return false;
    }
    if (m_position < 0 && !readStartPosition())
        return false;
    qint64 pid = 0;
    QSqlQuery q(db);
    if (q.exec(QStringLiteral("SELECT pg_backend_pid()")) && q.next())
        pid = q.value(0).toLongLong();
    qCInfo(lcStore).noquote() << "event feed listening on" << kChannel << "from position" << m_position
                                  << "(backend" << pid << ")";
    m_up = true;
    Q_EMIT listening(true, pid, {});
    return true;
}

// Started without a known position: from the current last one.
bool EventFeedWorker::readStartPosition()
{
    StoreError positionError;
    const qint64 last = m_store->lastPosition(&positionError);
    if (positionError) {
        lost(positionError.message);
        return false;
    }
    m_position = last;
    return true;
}

void EventFeedWorker::lost(const QString &reason)
{
    if (m_up) // said once per outage; reconnect attempts stay quiet until it is back
        qCWarning(lcStore).noquote() << "event feed lost its connection:" << reason << "- reconnecting";
    else
        qCDebug(lcStore).noquote() << "event feed still without a connection:" << reason;
    const bool wasUp = m_up;
    m_up = false;
    QObject::disconnect(m_notificationConnection);
    if (wasUp)
        Q_EMIT listening(false, 0, reason);
}

void EventFeedWorker::scheduleCatchUp()
{
    if (m_catchUpQueued || m_stopped)
        return;
    m_catchUpQueued = true;
    QMetaObject::invokeMethod(this, &EventFeedWorker::catchUp, Qt::QueuedConnection);
}

void EventFeedWorker::catchUp()
{
    m_catchUpQueued = false;
    if (m_stopped || !m_up)
        return;
    for (;;) {
        auto events = m_store->loadEventsAfterPosition(m_position, m_chunkSize);
        if (!events.ok()) {
            lost(events.error.message);
            return;
        }
        if (events.value.isEmpty())
            return;
        m_position = events.value.last().position;
        const bool more = events.value.size() >= m_chunkSize;
        Q_EMIT eventsRead(events.value);
        if (!more)
            return;
    }
}

void EventFeedWorker::check()
{
    if (m_stopped)
        return;
    if (!m_up) {
        if (connectAndListen())
            catchUp();
        return;
    }
    StoreError error;
    const qint64 last = m_store->lastPosition(&error);
    if (error) {
        lost(error.message);
        if (connectAndListen()) // at once: the outage may have been the connection only
            catchUp();
        return;
    }
    if (last > m_position)
        catchUp(); // a notification was lost (or is late): the counter says there is more
}
