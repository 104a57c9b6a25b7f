#include "batchcommitter.h"

#include "commitfeed.h"
#include "sagalog.h"
#include "sagastore.h"

#include <QElapsedTimer>
#include <QSet>

BatchCommitter::BatchCommitter(const DatabaseUrl &url, const QString &connectionName, const QString &leaseOwner,
                               qint64 leaseMs, std::shared_ptr<CommitFeed> feed, int index, qint64 clockSkewMs)
    : m_url(url)
    , m_connectionName(connectionName)
    , m_leaseOwner(leaseOwner)
    , m_leaseMs(leaseMs)
    , m_feed(std::move(feed))
    , m_index(index)
    , m_clockSkewMs(clockSkewMs)
{
    qRegisterMetaType<CommitReport>();
}

BatchCommitter::~BatchCommitter() = default;

StoreError BatchCommitter::open()
{
    m_store = std::make_unique<SagaStore>(m_url, m_connectionName);
    m_store->setClockSkewForTesting(m_clockSkewMs);
    StoreError e = m_store->open();
    if (e)
        qCWarning(lcStore) << "committer cannot open the database:" << e.message;
    return e;
}

StoreError BatchCommitter::reconnect()
{
    if (!m_store)
        return StoreError{StoreError::Unavailable, QStringLiteral("committer is closed")};
    StoreError e = m_store->reconnect();
    m_broken = bool(e);
    if (!m_broken)
        m_feed->repaired(m_index);
    return e;
}

void BatchCommitter::close()
{
    m_store.reset();
}

void BatchCommitter::run()
{
    QVector<StoreTransition> batch;
    quint64 firstTicket = 0;
    while (m_feed->take(m_index, &batch, &firstTicket)) {
        const CommitReport report = commit(firstTicket, batch);
        if (report.unavailable)
            m_feed->broke(m_index); // before the report: nothing more is taken
        Q_EMIT reported(report);
        if (report.unavailable)
            return;
    }
}

CommitReport BatchCommitter::commit(quint64 firstTicket, const QVector<StoreTransition> &batch)
{
    QElapsedTimer clock;
    clock.start();
    CommitReport report;
    report.firstTicket = firstTicket;
    report.count = int(batch.size());
    auto lost = [&](const StoreError &e, int inDoubt) {
        m_broken = true;
        report.unavailable = e;
        report.inDoubt = inDoubt;
        report.commitMicros = clock.nsecsElapsed() / 1000;
        return report;
    };
    if (!m_store)
        return lost(StoreError{StoreError::Unavailable, QStringLiteral("committer is closed")}, 0);
    if (m_broken) {
        if (StoreError e = reconnect())
            return lost(e, 0); // nothing was attempted
    }
    QVector<int> leftOut; // orders with an Idempotency-Key that were there already
    auto result = m_store->commitTransitions(batch, m_leaseOwner, m_leaseMs, &leftOut);
    if (!result.ok() && result.error.kind == StoreError::Unavailable && result.error.notWritten
        && m_store->isConnectionBroken()) {
        // The server ended this connection while it was idle (a restart, an operator)
        // and nothing was sent: a new connection, and the batch once more on it.
        if (!m_store->reconnect())
            result = m_store->commitTransitions(batch, m_leaseOwner, m_leaseMs, &leftOut);
    }
    if (result.ok() && !leftOut.isEmpty()) {
        // Committed in one transaction without the sagas whose keyed order another
        // request wrote first: reported one by one, those refused.
        int next = 0;
        int left = 0;
        for (int i = 0; i < batch.size(); ++i) {
            if (left < leftOut.size() && leftOut.at(left) == i) {
                ++left;
                report.singles.append(CommitReport::Single{
                    false, batch[i].event,
                    StoreError{StoreError::Conflict, QStringLiteral("an order with this Idempotency-Key is there already")}});
            } else if (next < result.value.size()) {
                report.singles.append(CommitReport::Single{true, result.value.at(next++), {}});
            }
        }
    } else if (result.ok()) {
        report.whole = true;
        report.events = std::move(result.value);
    } else if (result.error.kind == StoreError::Unavailable) {
        return lost(result.error, result.error.notWritten ? 0 : report.count);
    } else if (batch.size() == 1) {
        report.singles.append(CommitReport::Single{false, batch.first().event, result.error});
    } else {
        // Find the offending transition(s): commit one at a time. After a refusal
        // the saga's later transitions in this batch are refused too (no seq gaps).
        QSet<QUuid> refused;
        for (const StoreTransition &t : batch) {
            if (refused.contains(t.event.orderId)) {
                report.singles.append(CommitReport::Single{
                    false, t.event, StoreError{StoreError::Conflict, QStringLiteral("an earlier transition was refused")}});
                continue;
            }
            auto one = m_store->commitTransitions({t}, m_leaseOwner, m_leaseMs);
            if (one.ok()) {
                report.singles.append(CommitReport::Single{true, one.value.first(), {}});
            } else if (one.error.kind == StoreError::Unavailable) {
                return lost(one.error, one.error.notWritten ? 0 : 1);
            } else {
                refused.insert(t.event.orderId);
                report.singles.append(CommitReport::Single{false, t.event, one.error});
            }
        }
    }
    report.commitMicros = clock.nsecsElapsed() / 1000;
    return report;
}
