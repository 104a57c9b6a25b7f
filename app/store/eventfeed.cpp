#include "eventfeed.h"

#include "eventfeedworker.h"
#include "sagalog.h"
#include "threadexit.h"

#include <QAtomicInt>
#include <memory>

namespace {
QAtomicInt g_feedCounter;
// How long ~EventFeed waits for its thread: stopping takes milliseconds when the
// database answers.
constexpr int kStopWaitMs = 2000;
}

EventFeed::EventFeed(const DatabaseUrl &url, int checkIntervalMs, int chunkSize, QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<OrderEvent>();
    qRegisterMetaType<QVector<OrderEvent>>();
    const QString name = QStringLiteral("saga_event_feed_%1").arg(g_feedCounter.fetchAndAddRelaxed(1));
    const int interval = url.isPostgres() ? checkIntervalMs : qMin(checkIntervalMs, kSqlitePollMs);
    auto worker = std::make_unique<EventFeedWorker>(url, name, interval, chunkSize);
    m_thread = new QThread;
    worker->moveToThread(m_thread);
    m_thread->setObjectName(QStringLiteral("event feed"));
    connect(m_thread, &QThread::finished, worker.get(), &QObject::deleteLater);
    m_worker = worker.release(); // owned by the thread (finished -> deleteLater)
    connect(m_worker, &EventFeedWorker::eventsRead, this, &EventFeed::eventsArrived);
    connect(m_worker, &EventFeedWorker::listening, this, [this](bool up, qint64 pid, const QString &reason) {
        if (up && m_everListened && !m_listening)
            ++m_reconnects;
        m_everListened = m_everListened || up;
        m_listening = up;
        m_backendPid = up ? pid : 0;
        Q_EMIT listeningChanged(up, reason);
    });
    m_thread->start();
}

EventFeed::~EventFeed()
{
    // The worker stops (unlistens, closes its connection) and its thread ends. A
    // read the database does not answer (a frozen server) would keep this waiting
    // for good: after kStopWaitMs the thread is left to end in the background
    // (its signals no longer reach this object).
    QMetaObject::invokeMethod(
        m_worker,
        [worker = m_worker] {
            worker->stop();
            QThread::currentThread()->quit();
        },
        Qt::QueuedConnection);
    if (!ThreadExit::waitOrLeave(m_thread, kStopWaitMs))
        qCWarning(lcStore) << "the event feed's database has not answered for" << kStopWaitMs
                           << "ms; its reader is left to end in the background";
}

void EventFeed::start(qint64 afterPosition)
{
    QMetaObject::invokeMethod(m_worker, [worker = m_worker, afterPosition] { worker->start(afterPosition); },
                              Qt::QueuedConnection);
}
