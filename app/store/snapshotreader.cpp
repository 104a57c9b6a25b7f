#include "snapshotreader.h"

#include "pgcopy.h"
#include "sagalog.h"
#include "sqlerror.h"
#include "sqlitestatements.h"
#include "storetext.h"

#include <QDateTime>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>

#include <sqlite3.h>

#include <QHash>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

namespace {

// Columns of every snapshot query: the order's id and created_at (the keyset
// cursor), then the event (NULL seq for an order without events).
constexpr char kColumns[] = "o.id, o.created_at, e.seq, e.event_type, e.step_name, e.details, e.created_at";

// The event types whose details (or error, which travels inside details) the
// fold reads: SAGA_STARTED (orderNumber, customerId, traceId, attemptNumber),
// STEP_FAILED (phase, error, resumedAt), SAGA_COMPLETED (confirmationNumber,
// totalChargedInCents), SAGA_FAILED (failedStep, compensationIncomplete, error),
// and the STEP_COMPLETED of a step taken over after an interruption (resumedAt;
// the others' details are the step's output, which the fold does not read).
// The bulk scan leaves the details of the other rows out (about 60 % of the
// rows: no transfer, no UTF-16 conversion, no JSON parse). If the fold starts
// reading another type's details, add it here; tst_snapshotreader compares the
// snapshots with SagaStore::loadProgress() on events with all their details.
// %1: where the details text contains "resumedAt" (see detailsWanted()).
constexpr char kDetailsWanted[] = "event_type IN ('SAGA_STARTED','STEP_FAILED','SAGA_COMPLETED','SAGA_FAILED') "
                                  "OR (event_type = 'STEP_COMPLETED' AND %1 > 0)";
// %1 finds "resumedAt" in the details text: a plain substring search (instr, strpos),
// not LIKE, which folds case and reads a pattern for each of the many rows.
QString detailsWanted(bool sqlite)
{
    return QString::fromLatin1(kDetailsWanted)
        .arg(sqlite ? QStringLiteral("instr(details, '\"resumedAt\"')")
                    : QStringLiteral("strpos(details::text, '\"resumedAt\"')"));
}

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
    setEventType(&e, q.value(c + 1).toString());
    const QString stepName = q.value(c + 2).toString();
    if (!stepName.isEmpty())
        e.step = stepFromName(stepName);
    const QVariant details = q.value(c + 3);
    if (!details.isNull())
        StoreText::setEventDetails(e, details.toString().toUtf8());
    e.timestamp = QDateTime::fromMSecsSinceEpoch(q.value(c + 4).toLongLong(), Qt::UTC);
    return e;
}

// SQL that maps a text column to the enum's index (QtSql then hands over a small
// integer instead of a UTF-16 string per row). Built from the model's own names,
// so it matches exactly what eventTypeFromString() / stepFromName() accept
// (binary text comparison on SQLite and PostgreSQL). `otherwise` is the value of
// an unknown name (and of NULL).
template<typename Enum, typename Name>
QString caseOf(const char *column, int n, Name name, int otherwise)
{
    QString sql = QStringLiteral("CASE %1").arg(QLatin1String(column));
    for (int i = 0; i < n; ++i) {
        QString text = name(Enum(i));
        text.replace(QLatin1Char('\''), QLatin1String("''"));
        sql += QStringLiteral(" WHEN '%1' THEN %2").arg(text).arg(i);
    }
    sql += QStringLiteral(" ELSE %1 END").arg(otherwise);
    return sql;
}

// The bulk scan's decoding: as decodeEvent(), with event_type and step_name
// already mapped to their indexes in SQL (an unknown type decodes as
// Unrecognized, without its name: the fold needs none; an unknown or empty step
// as none, as in decodeEvent()).
// Columns: order_id, seq, type index, step index (-1 = none), details, created_at.
// Fills `e` in place (reused across rows: no allocation for empty details);
// `details` is null when the row carries none.
void setScanned(OrderEvent &e, qint64 seq, int type, int step, const QByteArray &details, qint64 createdAtMs)
{
    e.seq = seq;
    e.type = EventType(type);
    if (step >= 0 && step < kStepCount)
        e.step = SagaStep(step);
    else
        e.step.reset();
    if (details.isNull()) {
        if (!e.details.isEmpty())
            e.details = QJsonObject();
        if (!e.error.isNull())
            e.error = ErrorInfo();
    } else {
        StoreText::setEventDetails(e, details);
    }
    e.timestamp = QDateTime::fromMSecsSinceEpoch(createdAtMs, Qt::UTC);
}

void decodeScanned(const QSqlQuery &q, OrderEvent &e)
{
    const QVariant details = q.value(4);
    // On SQLite the scan reads details as a BLOB: its UTF-8 bytes as they are
    // (no round trip through UTF-16).
    const QByteArray bytes = details.isNull()                                ? QByteArray()
        : details.typeId() == QMetaType::QByteArray ? details.toByteArray()
                                                    : details.toString().toUtf8();
    setScanned(e, q.value(1).toLongLong(), q.value(2).toInt(), q.value(3).toInt(), bytes, q.value(5).toLongLong());
}

// An order id as stored (UTF-8 text) -> QUuid; null when it is not one.
QUuid uuidOf(QByteArrayView text)
{
    return text.isEmpty() ? QUuid() : QUuid::fromString(QLatin1StringView(text.data(), text.size()));
}

// Keeps the raw bytes of the last order id seen (no allocation once it has grown):
// the scans compare each row's id as stored and parse it only when it changes.
struct LastId {
    QByteArray bytes;
    bool any = false;
    bool changedTo(QByteArrayView id)
    {
        if (any && id == QByteArrayView(bytes))
            return false;
        any = true;
        bytes.resize(id.size());
        if (!id.isEmpty())
            std::memcpy(bytes.data(), id.data(), size_t(id.size()));
        return true;
    }
    bool changedTo(const PgCopy::Field &f) { return changedTo(QByteArrayView(f.data, qMax(0, f.size))); }
};

// The bulk scan's fold: one OrderProgress per order id not already in `known`
// (the first chunk's orders, which map to kDelivered and are skipped).
constexpr size_t kDelivered = ~size_t(0);
struct Scan {
    std::vector<OrderProgress> rest;
    int rejected = 0;
};

// The bulk scan's rows through QtSql (any driver; decodeScanned()).
class QtSqlCursor
{
public:
    explicit QtSqlCursor(QSqlQuery &q) : m_q(q) {}
    bool next() { return m_q.next(); }
    QByteArrayView id()
    {
        m_id = m_q.value(0).toString().toUtf8();
        return m_id;
    }
    void decode(OrderEvent &e) const { decodeScanned(m_q, e); }

private:
    QSqlQuery &m_q;
    QByteArray m_id;
};

// The same rows straight from SQLite on the connection's own handle: no QVariant
// and no UTF-16 conversion per value (the type and step come as indexes, the
// details as their stored bytes). Decodes exactly as decodeScanned().
class SqliteCursor
{
public:
    SqliteCursor(sqlite3 *db, const QString &sql) : m_db(db)
    {
        const QByteArray text = sql.toUtf8();
        m_rc = sqlite3_prepare_v2(db, text.constData(), int(text.size()), &m_s, nullptr);
    }
    ~SqliteCursor() { sqlite3_finalize(m_s); }
    SqliteCursor(const SqliteCursor &) = delete;
    SqliteCursor &operator=(const SqliteCursor &) = delete;

    bool next()
    {
        if (!m_s)
            return false;
        m_rc = sqlite3_step(m_s);
        return m_rc == SQLITE_ROW;
    }
    // The row's order id as SQLite holds it (valid until the next step).
    QByteArrayView id() const
    {
        const char *text = reinterpret_cast<const char *>(sqlite3_column_text(m_s, 0));
        return QByteArrayView(text, text ? sqlite3_column_bytes(m_s, 0) : 0);
    }
    void decode(OrderEvent &e) const
    {
        QByteArray details;
        if (sqlite3_column_type(m_s, 4) != SQLITE_NULL) {
            const char *bytes = static_cast<const char *>(sqlite3_column_blob(m_s, 4));
            // Parsed before the next step: the bytes are read where they are.
            details = QByteArray::fromRawData(bytes ? bytes : "", sqlite3_column_bytes(m_s, 4));
        }
        setScanned(e, sqlite3_column_int64(m_s, 1), sqlite3_column_int(m_s, 2), sqlite3_column_int(m_s, 3), details,
                   sqlite3_column_int64(m_s, 5));
    }
    // After the last next(): empty when the whole result was read.
    StoreError error(const QString &what) const
    {
        if (m_s && m_rc == SQLITE_DONE)
            return {};
        return StoreError{sqliteUnavailable(m_rc) ? StoreError::Unavailable : StoreError::Invalid,
                          what + QStringLiteral(": ") + QString::fromUtf8(sqlite3_errmsg(m_db))};
    }

private:
    sqlite3 *m_db;
    sqlite3_stmt *m_s = nullptr;
    int m_rc = SQLITE_OK;
};

template<typename Cursor>
void foldScan(Cursor &scan, const QHash<QUuid, size_t> &known, Scan &out)
{
    QHash<QUuid, size_t> slot = known;
    slot.reserve(qMax(qsizetype(65536), known.size() * 2));
    out.rest.reserve(65536);
    LastId last;
    OrderProgress *current = nullptr;
    OrderEvent e;
    while (scan.next()) {
        if (last.changedTo(scan.id())) {
            const QUuid id = uuidOf(QByteArrayView(last.bytes));
            auto it = slot.constFind(id);
            if (it == slot.cend()) {
                it = slot.insert(id, out.rest.size());
                out.rest.emplace_back(id);
            }
            current = *it == kDelivered ? nullptr : &out.rest[*it];
        }
        if (!current)
            continue;
        e.orderId = current->orderId;
        scan.decode(e);
        if (current->apply(e).outcome == FoldResult::Rejected)
            ++out.rejected;
    }
}

// A failed QtSql read as a StoreError (sqlerror.h).
StoreError queryFailure(const QSqlDatabase &db, const QSqlQuery &q, const QString &what)
{
    return sqlFailure(db, q.lastError(), what);
}

// Folds the scan `sql` on `db` (in the thread that owns it) into `out`: straight
// from SQLite where the connection has a sqlite3 handle, else through QtSql.
StoreError scanInto(const QSqlDatabase &db, const QString &sql, const QHash<QUuid, size_t> &known, Scan &out)
{
    const QString what = QStringLiteral("read events");
    if (sqlite3 *handle = SqliteStatements::handleOf(db)) {
        SqliteCursor rows(handle, sql);
        foldScan(rows, known, out);
        return rows.error(what);
    }
    QSqlQuery scan(db);
    scan.setForwardOnly(true);
    if (!scan.exec(sql))
        return queryFailure(db, scan, what);
    QtSqlCursor rows(scan);
    foldScan(rows, known, out);
    if (scan.lastError().type() != QSqlError::NoError)
        return queryFailure(db, scan, what);
    scan.finish();
    return {};
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

// ---- PostgreSQL through libpq (PgCopy): the same rows as raw bytes ----

// The model's names as UTF-8, compared byte for byte with the stored text (as
// eventTypeFromString() / stepFromName() and the CASE above compare them).
struct PgNames {
    std::array<QByteArray, kEventTypeCount> types;
    std::array<QByteArray, kStepCount> steps;
    PgNames()
    {
        for (int i = 0; i < kEventTypeCount; ++i)
            types[size_t(i)] = toString(EventType(i)).toUtf8();
        for (int i = 0; i < kStepCount; ++i)
            steps[size_t(i)] = stepDisplayName(SagaStep(i)).toUtf8();
    }
    // An unknown type decodes as Unrecognized (the fold needs no name), an unknown,
    // empty or NULL step as none (as in decodeEvent() and decodeScanned()).
    EventType type(const PgCopy::Field &f) const
    {
        for (int i = 0; i < kEventTypeCount; ++i) {
            if (f.equals(types[size_t(i)]))
                return EventType(i);
        }
        return EventType::Unrecognized;
    }
    std::optional<SagaStep> step(const PgCopy::Field &f) const
    {
        if (f.size > 0) {
            for (int i = 0; i < kStepCount; ++i) {
                if (f.equals(steps[size_t(i)]))
                    return SagaStep(i);
            }
        }
        return std::nullopt;
    }
};

// Event columns of both PostgreSQL queries: seq, event_type, step_name, details
// (as text; NULL for the types whose details the fold does not read), created_at.
constexpr char kPgEventColumns[] = "seq, event_type, step_name, CASE WHEN %1 THEN details::text END, created_at";

// As decodeScanned(), from the raw fields (`f` points at seq). Fills `e` in place.
void decodePg(const PgCopy::Field *f, const PgNames &names, OrderEvent &e)
{
    e.seq = f[0].toInt();
    e.type = names.type(f[1]);
    e.step = names.step(f[2]);
    const PgCopy::Field &details = f[3];
    if (details.isNull()) {
        if (!e.details.isEmpty())
            e.details = QJsonObject();
        if (!e.error.isNull())
            e.error = ErrorInfo();
    } else {
        // The JSON's UTF-8 bytes as they came (the parser copies what it keeps).
        StoreText::setEventDetails(e, QByteArray::fromRawData(details.data, details.size));
    }
    e.timestamp = QDateTime::fromMSecsSinceEpoch(f[4].toInt(), Qt::UTC);
}

QUuid uuidOf(const PgCopy::Field &f)
{
    return uuidOf(QByteArrayView(f.data, qMax(0, f.size)));
}

} // namespace

SnapshotReader::SnapshotReader(const QString &connectionName)
    : m_connectionName(connectionName)
{
}

StoreError SnapshotReader::failure(const QSqlQuery &q, const QString &what) const
{
    return queryFailure(QSqlDatabase::database(m_connectionName, false), q, what);
}

StoreError SnapshotReader::readAll(const std::function<void(QVector<OrderProgress>)> &chunk,
                                   const Options &options, int *count)
{
    QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (count)
        *count = 0;
    if (!db.isOpen())
        return StoreError::unavailable(QStringLiteral("database connection is not open"), StoreError::Outage::Unreachable);
    // PostgreSQL: the same two reads through libpq directly (no QVariant and no
    // UTF-16 string per value); QtSql when the connection's handle is not usable.
    m_usedLibpq = false;
    m_usedSqliteHandle = false;
    if (void *conn = PgCopy::usableConnection(db)) {
        m_usedLibpq = true;
        const StoreError error = readAllPostgres(conn, chunk, options, count);
        PgCopy::deliverPendingNotifications(db);
        return error;
    }
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
    const int delivered = int(first.out.size());
    // Slot of every order in `rest` by its id as stored; the first chunk's orders
    // are in it too (kDelivered) so that one lookup per order change skips them.
    QHash<QUuid, size_t> slot;
    slot.reserve(first.out.size());
    for (const OrderProgress &p : std::as_const(first.out))
        slot.insert(p.orderId, kDelivered);
    int rejected = first.rejected;
    if (!first.out.isEmpty())
        chunk(std::move(first.out));
    // The scan runs even when the first page was not full: cheap then, and it
    // does not depend on every order having events.

    // 2. Everything else in one scan of order_events in storage order (no sort, no
    //    index lookups). The fold puts each order's events in seq order itself
    //    (events after a gap wait in its buffer), so the row order does not matter.
    //    The scan is split by order id into two halves (every order's events in one
    //    half), read and folded in parallel: this half here, the other on a second
    //    connection in a helper thread (SQLite files only: on PostgreSQL two
    //    backends each scanning the whole table were slower on 2 cores; BENCHMARKS.md).
    const bool sqlite = db.driverName() == QLatin1String("QSQLITE");
    const QString details = sqlite ? QStringLiteral("CAST(details AS BLOB)") : QStringLiteral("details");
    const QString scanSql = QStringLiteral("SELECT order_id, seq, %2, %3, CASE WHEN %1 "
                                           "THEN %4 END, created_at FROM order_events%5")
                                .arg(detailsWanted(sqlite),
                                     caseOf<EventType>("event_type", kEventTypeCount,
                                                       [](EventType t) { return toString(t); },
                                                       int(EventType::Unrecognized)),
                                     caseOf<SagaStep>("step_name", kStepCount,
                                                      [](SagaStep s) { return stepDisplayName(s); }, -1),
                                     details,
                                     // SQLite would read a half through the (order_id, seq) index and
                                     // look every row up in the table: twice the page reads
                                     // (BENCHMARKS.md, Console, session 7).
                                     sqlite ? QStringLiteral(" NOT INDEXED") : QString());
    const QString lowHalf = scanSql + QStringLiteral(" WHERE order_id < '8'");
    const QString highHalf = scanSql + QStringLiteral(" WHERE order_id >= '8'");
    const QString file = db.databaseName();
    const bool twoConnections =
        sqlite
        && (!file.isEmpty() && file != QLatin1String(":memory:") && !file.contains(QLatin1String("memory"))
            && !db.connectOptions().contains(QLatin1String("memory")));

    Scan high;
    bool highDone = false;
    QThread *helper = nullptr;
    if (twoConnections) {
        const QString name = QStringLiteral("%1-snapshot-scan-%2")
                                 .arg(m_connectionName)
                                 .arg(quintptr(this), 0, 16);
        const QString source = m_connectionName;
        helper = QThread::create([&high, &highDone, &slot, &highHalf, name, source] {
            {
                QSqlDatabase other = QSqlDatabase::cloneDatabase(source, name);
                if (other.open())
                    highDone = scanInto(other, highHalf, slot, high).ok();
                other.close();
            }
            QSqlDatabase::removeDatabase(name);
        });
        helper->start();
    }
    m_usedSqliteHandle = SqliteStatements::handleOf(db) != nullptr;
    Scan low;
    const StoreError lowError = scanInto(db, twoConnections ? lowHalf : scanSql, slot, low);
    if (helper) {
        helper->wait();
        delete helper;
        helper = nullptr;
    }
    if (lowError)
        return lowError;
    if (twoConnections && !highDone) {
        // The second connection failed: read that half here.
        qCInfo(lcStore) << "snapshot scan: second connection unavailable, reading both halves in one thread";
        high = Scan();
        if (StoreError e = scanInto(db, highHalf, slot, high))
            return e;
    }
    slot.clear();
    rejected += low.rejected + high.rejected;
    // The two halves as they are (each order is in one): no moving 100,000
    // snapshots into one vector before they are sorted and moved into chunks.
    return deliverRest(low.rest, high.rest, delivered, rejected, chunk, options, count);
}

StoreError SnapshotReader::deliverRest(std::vector<OrderProgress> &rest, std::vector<OrderProgress> &more,
                                       int delivered, int rejected,
                                       const std::function<void(QVector<OrderProgress>)> &chunk,
                                       const Options &options, int *count)
{
    // `rest` then `more`, as one sequence.
    const size_t restSize = rest.size();
    const size_t total = restSize + more.size();
    auto at = [&](size_t i) -> OrderProgress & { return i < restSize ? rest[i] : more[i - restSize]; };

    // An order whose events came too far out of order for the fold's gap buffer:
    // read it again in seq order.
    QVector<QUuid> again;
    for (size_t i = 0; i < total; ++i) {
        if (at(i).bufferedCount() > 0)
            again.append(at(i).orderId);
    }
    if (!again.isEmpty()) {
        StoreResult<QVector<OrderProgress>> reread = read(again);
        if (!reread.ok())
            return reread.error;
        QHash<QUuid, OrderProgress> fixed;
        for (OrderProgress &p : reread.value)
            fixed.insert(p.orderId, std::move(p));
        for (size_t i = 0; i < total; ++i) {
            OrderProgress &p = at(i);
            if (p.bufferedCount() > 0)
                p = fixed.take(p.orderId);
        }
    }

    // 3. Newest first, in chunks.
    //    Sorts (created_at, index) keys (no QDateTime comparison per step; an
    //    invalid created_at sorts before every valid one, as QDateTime orders them),
    //    then moves each snapshot once, into its chunk.
    struct Key {
        qint64 created;
        quint32 index;
    };
    std::vector<Key> byAge;
    byAge.reserve(total);
    for (size_t i = 0; i < total; ++i) {
        const QDateTime &created = at(i).createdAt;
        byAge.push_back({created.isValid() ? created.toMSecsSinceEpoch() : std::numeric_limits<qint64>::min(),
                         quint32(i)});
    }
    std::sort(byAge.begin(), byAge.end(), [&at](const Key &a, const Key &b) {
        if (a.created != b.created)
            return a.created > b.created;
        return at(a.index).orderId > at(b.index).orderId;
    });
    const size_t step = size_t(qMax(1, options.chunk));
    for (size_t from = 0; from < byAge.size(); from += step) {
        const size_t to = std::min(byAge.size(), from + step);
        QVector<OrderProgress> part;
        part.reserve(qsizetype(to - from));
        for (size_t i = from; i < to; ++i)
            part.append(std::move(at(byAge[i].index)));
        chunk(std::move(part));
    }
    if (rejected > 0)
        qCWarning(lcStore) << rejected << "stored events rejected by the fold while reading snapshots";
    if (count)
        *count = delivered + int(total);
    return {};
}

StoreError SnapshotReader::readAllPostgres(void *conn, const std::function<void(QVector<OrderProgress>)> &chunk,
                                           const Options &options, int *count)
{
    // No JIT for these two reads: their expressions are trivial, but without
    // planner statistics (a database filled moments ago) the first page's
    // estimate is huge and PostgreSQL spent ~100 ms compiling it, before the
    // first row. The session's own setting is put back afterwards.
    const StoreResult<QByteArray> jit = PgCopy::swapSetting(conn, "jit", "off", QStringLiteral("read snapshots"));
    if (!jit.ok())
        return jit.error;
    const StoreError error = readPostgres(conn, chunk, options, count);
    if (error || jit.value.isNull())
        return error;
    return PgCopy::swapSetting(conn, "jit", jit.value, QStringLiteral("read snapshots")).error;
}

StoreError SnapshotReader::readPostgres(void *conn, const std::function<void(QVector<OrderProgress>)> &chunk,
                                        const Options &options, int *count)
{
    const PgNames names;
    const QByteArray eventColumns = QByteArray(kPgEventColumns).replace("%1", detailsWanted(false).toLatin1());
    int rejected = 0;
    OrderEvent e; // reused for every row
    // Folds the row's event columns (after the order id) into `p`.
    auto fold = [&](OrderProgress &p, const PgCopy::Field *f) {
        e.orderId = p.orderId;
        decodePg(f + 1, names, e);
        if (p.apply(e).outcome == FoldResult::Rejected)
            ++rejected;
    };

    // 1. The newest orders with all their events: on screen at once. Each order's
    //    events through the (order_id, seq) index (LATERAL: a nested loop; a plain
    //    join let the planner hash-join a scan of the whole event table).
    //    Columns as in the scan below: order id, then the event columns.
    const QByteArray newestSql = "SELECT o.id, e.* FROM (SELECT id, created_at FROM orders "
                                 "ORDER BY created_at DESC, id DESC LIMIT "
        + QByteArray::number(qMax(1, options.firstChunk))
        + ") o CROSS JOIN LATERAL (SELECT " + eventColumns
        + " FROM order_events WHERE order_id = o.id ORDER BY seq) e "
          "ORDER BY o.created_at DESC, o.id DESC, e.seq";
    QVector<OrderProgress> first;
    {
        LastId last;
        OrderProgress *current = nullptr;
        const StoreError error = PgCopy::copyRows(
            conn, newestSql, 6,
            [&](const PgCopy::Field *f) {
                if (last.changedTo(f[0])) {
                    first.append(OrderProgress(uuidOf(f[0])));
                    current = &first.last();
                }
                fold(*current, f);
            },
            QStringLiteral("read newest snapshots"));
        if (error)
            return error;
    }
    const int delivered = int(first.size());
    // Slot of every order in `rest` by id; the first chunk's orders are in it too
    // (kDelivered) so that one lookup per order change skips them.
    QHash<QUuid, size_t> slot;
    slot.reserve(qsizetype(65536) + first.size() * 2);
    for (const OrderProgress &p : std::as_const(first))
        slot.insert(p.orderId, kDelivered);
    if (!first.isEmpty())
        chunk(std::move(first));

    // 2. Everything else in one scan of order_events in storage order, folded as
    //    it arrives (see the QtSql path in readAll()).
    std::vector<OrderProgress> rest;
    rest.reserve(65536);
    {
        LastId last;
        OrderProgress *current = nullptr;
        const StoreError error = PgCopy::copyRows(
            conn, "SELECT order_id, " + eventColumns + " FROM order_events", 6,
            [&](const PgCopy::Field *f) {
                if (last.changedTo(f[0])) {
                    const QUuid id = uuidOf(f[0]);
                    auto it = slot.constFind(id);
                    if (it == slot.cend()) {
                        it = slot.insert(id, rest.size());
                        rest.emplace_back(id);
                    }
                    current = *it == kDelivered ? nullptr : &rest[*it];
                }
                if (current)
                    fold(*current, f);
            },
            QStringLiteral("read events"));
        if (error)
            return error;
    }
    slot.clear();
    std::vector<OrderProgress> none;
    return deliverRest(rest, none, delivered, rejected, chunk, options, count);
}

StoreResult<QVector<OrderProgress>> SnapshotReader::read(const QVector<QUuid> &orderIds)
{
    StoreResult<QVector<OrderProgress>> r;
    const QSqlDatabase db = QSqlDatabase::database(m_connectionName, false);
    if (!db.isOpen()) {
        r.error = StoreError::unavailable(QStringLiteral("database connection is not open"), StoreError::Outage::Unreachable);
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
