#include "snapshotreader.h"

#include "sagalog.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>

#include <QHash>
#include <QSet>

#include <algorithm>
#include <iterator>
#include <vector>

namespace {

// Columns of every snapshot query: the order's id and created_at (the keyset
// cursor), then the event (NULL seq for an order without events).
constexpr char kColumns[] = "o.id, o.created_at, e.seq, e.event_type, e.step_name, e.details, e.created_at";

// The event types whose details (or error, which travels inside details) the
// fold reads: SAGA_STARTED (orderNumber, customerId, traceId, attemptNumber),
// STEP_FAILED (phase, error), SAGA_COMPLETED (confirmationNumber,
// totalChargedInCents), SAGA_FAILED (failedStep, compensationIncomplete, error).
// The bulk scan leaves the details of the other types out (about 60 % of the
// rows: no transfer, no UTF-16 conversion, no JSON parse). If the fold starts
// reading another type's details, add it here; tst_snapshotreader compares the
// snapshots with SagaStore::loadProgress() on events with all their details.
constexpr char kTypesWithDetails[] = "'SAGA_STARTED','STEP_FAILED','SAGA_COMPLETED','SAGA_FAILED'";

struct FoldState {
    QVector<OrderProgress> out;
    int orders = 0;         // distinct orders seen (with or without events)
    qint64 lastCreated = 0; // keyset cursor: the last order seen
    QString lastId;
    int rejected = 0;
};

// Same decoding as SagaStore's event reader (details JSON with the error inside).
// `c` is the column of seq (order_id and the rest around it as in kColumns).
OrderEvent decodeEvent(const QSqlQuery &q, const QUuid &orderId, int c = 2)
{
    OrderEvent e;
    e.orderId = orderId;
    e.seq = q.value(c).toLongLong();
    e.type = eventTypeFromString(q.value(c + 1).toString()).value_or(EventType::SagaStarted);
    const QString stepName = q.value(c + 2).toString();
    if (!stepName.isEmpty())
        e.step = stepFromName(stepName);
    const QVariant details = q.value(c + 3);
    QJsonObject d = details.isNull() ? QJsonObject() : QJsonDocument::fromJson(details.toString().toUtf8()).object();
    if (d.contains(QLatin1String("error"))) {
        const QJsonObject err = d.take(QLatin1String("error")).toObject();
        e.error.code = err.value(QLatin1String("code")).toString();
        e.error.message = err.value(QLatin1String("message")).toString();
    }
    e.details = std::move(d);
    e.timestamp = QDateTime::fromMSecsSinceEpoch(q.value(c + 4).toLongLong(), Qt::UTC);
    return e;
}

void foldRows(QSqlQuery &q, FoldState &state)
{
    OrderProgress *current = nullptr;
    while (q.next()) {
        const QString id = q.value(0).toString();
        if (state.orders == 0 || id != state.lastId) {
            ++state.orders;
            state.lastId = id;
            state.lastCreated = q.value(1).toLongLong();
            current = nullptr;
        }
        if (q.isNull(2))
            continue; // an order without events has no snapshot (as in loadProgress)
        if (!current) {
            state.out.append(OrderProgress(QUuid::fromString(id)));
            current = &state.out.last();
        }
        const OrderEvent e = decodeEvent(q, current->orderId);
        if (current->apply(e).outcome == FoldResult::Rejected)
            ++state.rejected;
    }
}

} // namespace

SnapshotReader::SnapshotReader(const QString &connectionName)
    : m_connectionName(connectionName)
{
}

StoreError SnapshotReader::failure(const QSqlQuery &q, const QString &what) const
{
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    const QSqlError e = q.lastError();
    StoreError err;
    err.message = what + QStringLiteral(": ") + e.text();
    const bool pg = db.driverName() == QLatin1String("QPSQL");
    const QString code = e.nativeErrorCode();
    const int sqliteCode = code.toInt() & 0xff;
    if (!db.isOpen() || (pg && e.type() == QSqlError::ConnectionError) || code.startsWith(QLatin1String("08"))
        || code.startsWith(QLatin1String("57P")) || (!pg && (sqliteCode == 5 || sqliteCode == 6 || sqliteCode == 10)))
        err.kind = StoreError::Unavailable;
    else
        err.kind = StoreError::Invalid;
    return err;
}

StoreError SnapshotReader::readAll(const std::function<void(QVector<OrderProgress>)> &chunk,
                                   const Options &options, int *count)
{
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (count)
        *count = 0;
    if (!db.isOpen())
        return StoreError{StoreError::Unavailable, QStringLiteral("database connection is not open")};
    // 1. The newest orders with all their events: on screen at once.
    QSqlQuery newest(db);
    newest.setForwardOnly(true);
    if (!newest.prepare(QStringLiteral("SELECT %1 FROM (SELECT id, created_at FROM orders "
                                       "ORDER BY created_at DESC, id DESC LIMIT ?) o "
                                       "JOIN order_events e ON e.order_id = o.id "
                                       "ORDER BY o.created_at DESC, o.id DESC, e.seq")
                            .arg(QLatin1String(kColumns))))
        return failure(newest, QStringLiteral("prepare snapshot query"));
    newest.bindValue(0, qMax(1, options.firstChunk));
    if (!newest.exec())
        return failure(newest, QStringLiteral("read newest snapshots"));
    FoldState first;
    foldRows(newest, first);
    newest.finish();
    int total = int(first.out.size());
    QSet<QString> delivered;
    delivered.reserve(first.out.size());
    for (const OrderProgress &p : std::as_const(first.out))
        delivered.insert(p.orderId.toString(QUuid::WithoutBraces));
    int rejected = first.rejected;
    if (!first.out.isEmpty())
        chunk(std::move(first.out));
    // The scan runs even when the first page was not full: cheap then, and it
    // does not depend on every order having events.

    // 2. Everything else in one scan of order_events in storage order (no sort, no
    //    index lookups). The fold puts each order's events in seq order itself
    //    (events after a gap wait in its buffer), so the row order does not matter.
    QSqlQuery scan(db);
    scan.setForwardOnly(true);
    if (!scan.exec(QStringLiteral("SELECT order_id, seq, event_type, step_name, CASE WHEN event_type IN (%1) "
                                  "THEN details END, created_at FROM order_events")
                       .arg(QLatin1String(kTypesWithDetails))))
        return failure(scan, QStringLiteral("read events"));
    std::vector<OrderProgress> rest;
    rest.reserve(131072);
    QHash<QString, size_t> slot;
    slot.reserve(131072);
    QString lastId;
    OrderProgress *current = nullptr;
    while (scan.next()) {
        const QString id = scan.value(0).toString();
        if (!current || id != lastId) {
            lastId = id;
            current = nullptr;
            if (delivered.contains(id))
                continue;
            auto it = slot.constFind(id);
            if (it == slot.cend()) {
                it = slot.insert(id, rest.size());
                rest.emplace_back(QUuid::fromString(id));
            }
            current = &rest[*it];
        }
        if (!current)
            continue;
        if (current->apply(decodeEvent(scan, current->orderId, 1)).outcome == FoldResult::Rejected)
            ++rejected;
    }
    scan.finish();
    slot.clear();

    // An order whose events came too far out of order for the fold's gap buffer:
    // read it again in seq order.
    QVector<QUuid> again;
    for (const OrderProgress &p : rest) {
        if (p.bufferedCount() > 0)
            again.append(p.orderId);
    }
    if (!again.isEmpty()) {
        StoreResult<QVector<OrderProgress>> reread = read(again);
        if (!reread.ok())
            return reread.error;
        QHash<QUuid, OrderProgress> fixed;
        for (OrderProgress &p : reread.value)
            fixed.insert(p.orderId, std::move(p));
        for (OrderProgress &p : rest) {
            if (p.bufferedCount() > 0)
                p = fixed.take(p.orderId);
        }
    }

    // 3. Newest first, in chunks.
    std::sort(rest.begin(), rest.end(), [](const OrderProgress &a, const OrderProgress &b) {
        if (a.createdAt != b.createdAt)
            return a.createdAt > b.createdAt;
        return a.orderId > b.orderId;
    });
    const size_t step = size_t(qMax(1, options.chunk));
    for (size_t from = 0; from < rest.size(); from += step) {
        const size_t to = std::min(rest.size(), from + step);
        QVector<OrderProgress> part;
        part.reserve(qsizetype(to - from));
        std::move(rest.begin() + qsizetype(from), rest.begin() + qsizetype(to), std::back_inserter(part));
        chunk(std::move(part));
    }
    total += int(rest.size());
    if (rejected > 0)
        qCWarning(lcStore) << rejected << "stored events rejected by the fold while reading snapshots";
    if (count)
        *count = total;
    return {};
}

StoreResult<QVector<OrderProgress>> SnapshotReader::read(const QVector<QUuid> &orderIds)
{
    StoreResult<QVector<OrderProgress>> r;
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.isOpen()) {
        r.error = StoreError{StoreError::Unavailable, QStringLiteral("database connection is not open")};
        return r;
    }
    FoldState state;
    constexpr qsizetype kBatch = 500;
    for (qsizetype from = 0; from < orderIds.size(); from += kBatch) {
        const qsizetype n = qMin(kBatch, orderIds.size() - from);
        QStringList marks;
        marks.reserve(n);
        for (qsizetype i = 0; i < n; ++i)
            marks << QStringLiteral("?");
        QSqlQuery q(db);
        q.setForwardOnly(true);
        if (!q.prepare(QStringLiteral("SELECT %1 FROM orders o JOIN order_events e ON e.order_id = o.id "
                                      "WHERE o.id IN (%2) ORDER BY o.id, e.seq")
                           .arg(QLatin1String(kColumns), marks.join(QLatin1Char(','))))) {
            r.error = failure(q, QStringLiteral("prepare snapshot query"));
            return r;
        }
        for (qsizetype i = 0; i < n; ++i)
            q.bindValue(int(i), orderIds.at(from + i).toString(QUuid::WithoutBraces));
        if (!q.exec()) {
            r.error = failure(q, QStringLiteral("read snapshots"));
            return r;
        }
        state.orders = 0;
        foldRows(q, state);
    }
    QHash<QUuid, qsizetype> at;
    for (qsizetype i = 0; i < state.out.size(); ++i)
        at.insert(state.out.at(i).orderId, i);
    for (const QUuid &id : orderIds) {
        const auto it = at.constFind(id);
        if (it != at.cend())
            r.value.append(state.out.at(*it));
    }
    return r;
}
