// The charts panel's axes: counts read against whole-number, evenly spaced ticks,
// and the outcome chart's minutes follow the console's "Times in UTC" setting.

#include "chartspanel.h"
#include "guitesthelpers.h"
#include "ordertreemodel.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QGraphicsScene>
#include <QGraphicsTextItem>
#include <QSignalSpy>
#include <QTest>
#include <QValueAxis>

#include <cmath>
#include <ctime>

using namespace SagaScenarios;

namespace {
// `orders` sagas of `kind`, all ending within one minute a few minutes ago (so
// they land in one bucket of the outcome chart), each step `stepMs` long.
void fillRecent(OrderTreeModel &model, int orders, Kind kind = Kind::Success, qint64 stepMs = 10)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const QDateTime minute = QDateTime::fromSecsSinceEpoch(now.toSecsSinceEpoch() / 60 * 60 - 5 * 60, Qt::UTC);
    QVector<OrderEvent> events;
    for (int i = 0; i < orders; ++i) {
        Builder b(QUuid::createUuid(), minute.addSecs(1), stepMs);
        appendKind(b, kind);
        events += b.events();
    }
    model.applyEvents(events);
}

// The texts drawn in `chart`'s scene (titles, legend, axis labels).
QStringList drawnTexts(QChart *chart)
{
    QStringList texts;
    const auto items = chart->scene()->items();
    for (QGraphicsItem *item : items) {
        if (auto *text = dynamic_cast<QGraphicsTextItem *>(item); text && text->isVisible())
            texts << text->toPlainText();
    }
    return texts;
}

// What is not drawn whole in `chart`: texts cut to "...", a category label not
// shown, a value axis whose labels Qt Charts reports cut, texts drawn over one
// another. Empty when every title, axis label (and legend entry) reads whole.
QStringList textProblems(QChart *chart, bool legend)
{
    QStringList problems;
    QList<QGraphicsTextItem *> shown;
    const auto items = chart->scene()->items();
    for (QGraphicsItem *item : items) {
        auto *text = dynamic_cast<QGraphicsTextItem *>(item);
        if (text && text->isVisible() && !text->toPlainText().isEmpty()
            && (legend || !chart->legend()->isAncestorOf(text)))
            shown << text;
    }
    QStringList texts;
    for (const QGraphicsTextItem *t : std::as_const(shown)) {
        texts << t->toPlainText();
        if (t->toPlainText().contains(QLatin1String("...")) || t->toPlainText().contains(QChar(0x2026)))
            problems << QStringLiteral("cut: '%1'").arg(t->toPlainText());
    }
    for (QString title : {chart->title()}) {
        if (!texts.contains(title))
            problems << QStringLiteral("title '%1' not drawn").arg(title);
    }
    const auto axes = chart->axes();
    for (QAbstractAxis *axis : axes) {
        if (!axis->titleText().isEmpty() && !texts.contains(axis->titleText()))
            problems << QStringLiteral("axis title '%1' not drawn").arg(axis->titleText());
        if (auto *categories = qobject_cast<QBarCategoryAxis *>(axis)) {
            for (const QString &c : categories->categories()) {
                if (!texts.contains(c))
                    problems << QStringLiteral("label '%1' not drawn").arg(c);
            }
        } else if (axis->labelsTruncated()) {
            problems << QStringLiteral("'%1' labels cut").arg(axis->titleText());
        }
    }
    for (int i = 0; i < shown.size(); ++i) {
        const QRectF a = shown[i]->sceneBoundingRect().adjusted(1, 1, -1, -1);
        if (!chart->scene()->sceneRect().contains(a))
            problems << QStringLiteral("'%1' outside the chart").arg(shown[i]->toPlainText());
        for (int j = i + 1; j < shown.size(); ++j) {
            if (a.intersects(shown[j]->sceneBoundingRect().adjusted(1, 1, -1, -1)))
                problems << QStringLiteral("'%1' over '%2'").arg(shown[i]->toPlainText(), shown[j]->toPlainText());
        }
    }
    return problems;
}

QValueAxis *countAxis(QChart *chart)
{
    const auto axes = chart->axes(Qt::Vertical);
    return axes.isEmpty() ? nullptr : qobject_cast<QValueAxis *>(axes.first());
}

QBarCategoryAxis *minuteAxis(QChart *chart)
{
    const auto axes = chart->axes(Qt::Horizontal);
    return axes.isEmpty() ? nullptr : qobject_cast<QBarCategoryAxis *>(axes.first());
}

// The tallest bar (a stacked bar counts as the sum of its sets).
int tallestBar(QChart *chart, bool stacked)
{
    int tallest = 0;
    const auto seriesList = chart->series();
    for (QAbstractSeries *s : seriesList) {
        const auto *bars = qobject_cast<QAbstractBarSeries *>(s);
        if (!bars)
            continue;
        const QList<QBarSet *> sets = bars->barSets();
        const int count = sets.isEmpty() ? 0 : int(sets.first()->count());
        for (int i = 0; i < count; ++i) {
            int sum = 0;
            for (QBarSet *set : sets) {
                const int v = int(set->at(i));
                sum = stacked ? sum + v : std::max(sum, v);
            }
            tallest = std::max(tallest, sum);
        }
    }
    return tallest;
}

// Every tick of `axis` falls on a whole number, the ticks are 1, 2 or 5 × 10^k
// apart, and the axis runs from 0 to at least `tallest`.
QString tickProblem(const QValueAxis *axis, int tallest)
{
    if (!axis)
        return QStringLiteral("no value axis");
    if (axis->min() != 0)
        return QStringLiteral("starts at %1").arg(axis->min());
    if (axis->max() < tallest)
        return QStringLiteral("ends at %1 below the tallest bar %2").arg(axis->max()).arg(tallest);
    if (axis->tickType() == QValueAxis::TicksDynamic) {
        const double step = axis->tickInterval();
        if (step < 1 || std::floor(step) != step || std::fmod(axis->max(), step) != 0)
            return QStringLiteral("dynamic ticks every %1 up to %2").arg(step).arg(axis->max());
        return {};
    }
    const int intervals = axis->tickCount() - 1;
    if (intervals < 1)
        return QStringLiteral("%1 ticks").arg(axis->tickCount());
    const double step = axis->max() / intervals;
    if (std::floor(step) != step)
        return QStringLiteral("ticks every %1 (0..%2 in %3 intervals)").arg(step).arg(axis->max()).arg(intervals);
    double magnitude = 1;
    while (magnitude * 10 <= step)
        magnitude *= 10;
    const double multiple = step / magnitude;
    if (multiple != 1 && multiple != 2 && multiple != 5)
        return QStringLiteral("ticks every %1, not 1, 2 or 5 x 10^k").arg(step);
    if (intervals > 10)
        return QStringLiteral("%1 intervals").arg(intervals);
    return {};
}
} // namespace

class tst_ChartsPanel : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void countAxesHaveWholeNumberTicks_data();
    void countAxesHaveWholeNumberTicks();
    void outcomeMinutesFollowTheUtcSetting();
    void durationBinsReadAtAGlance();
    void countLabelsStayWholeAsTheyGrow();
    void labelsWholeAtTheMinimumHeight_data();
    void labelsWholeAtTheMinimumHeight();
};

void tst_ChartsPanel::initTestCase()
{
    // A zone far from UTC, so local and UTC minutes differ (the QA report's setup).
    qputenv("TZ", "America/New_York");
    tzset();
}

void tst_ChartsPanel::countAxesHaveWholeNumberTicks_data()
{
    QTest::addColumn<int>("orders");
    for (int n : {0, 3, 4, 5, 7, 9, 11, 23, 57, 130})
        QTest::addRow("%d orders", n) << n;
}

void tst_ChartsPanel::countAxesHaveWholeNumberTicks()
{
    QFETCH(int, orders);
    OrderTreeModel model;
    fillRecent(model, orders);
    ChartsPanel panel(&model);
    QSignalSpy refreshed(&panel, &ChartsPanel::refreshed);
    QVERIFY(refreshed.isValid());
    panel.refresh();
    QTRY_COMPARE(refreshed.count(), 1);

    QCOMPARE(tallestBar(panel.outcomeChart(), true), orders);
    const QString outcome = tickProblem(countAxis(panel.outcomeChart()), orders);
    QVERIFY2(outcome.isEmpty(), qPrintable(QStringLiteral("outcomes: ") + outcome));
    const int steps = tallestBar(panel.durationChart(), false);
    QCOMPARE(steps, orders); // every step of every order took the same 10 ms: one bin
    const QString durations = tickProblem(countAxis(panel.durationChart()), steps);
    QVERIFY2(durations.isEmpty(), qPrintable(QStringLiteral("durations: ") + durations));
}

void tst_ChartsPanel::outcomeMinutesFollowTheUtcSetting()
{
    OrderTreeModel model;
    fillRecent(model, 3);
    QVERIFY(model.displayUtc());
    ChartsPanel panel(&model);
    QSignalSpy refreshed(&panel, &ChartsPanel::refreshed);
    QVERIFY(refreshed.isValid());
    panel.refresh();
    QTRY_COMPARE(refreshed.count(), 1);

    auto labels = [&panel](bool utc) {
        QStringList expected;
        for (const SagaStatistics::OutcomeBucket &b : panel.statistics().outcomes)
            expected << (utc ? b.start.toUTC() : b.start.toLocalTime()).toString(QStringLiteral("HH:mm"));
        return expected;
    };
    QVERIFY(labels(true) != labels(false)); // New York is never at UTC
    QBarCategoryAxis *axis = minuteAxis(panel.outcomeChart());
    QVERIFY(axis);
    QCOMPARE(axis->categories(), labels(true));
    QCOMPARE(panel.outcomeChart()->title(), QStringLiteral("Outcomes per minute (UTC)"));
    QVERIFY(axis->titleText().isEmpty()); // (it took the height the upright labels need)

    // Switching to local time relabels the chart at once, not at the next refresh.
    model.setDisplayUtc(false);
    axis = minuteAxis(panel.outcomeChart());
    QVERIFY(axis);
    QCOMPARE(axis->categories(), labels(false));
    QCOMPARE(panel.outcomeChart()->title(), QStringLiteral("Outcomes per minute (local time)"));

    panel.refresh(); // and a later refresh keeps local time
    QTRY_COMPARE(refreshed.count(), 2);
    QCOMPARE(minuteAxis(panel.outcomeChart())->categories(), labels(false));

    model.setDisplayUtc(true);
    QCOMPARE(minuteAxis(panel.outcomeChart())->categories(), labels(true));
}

// Step durations: short labels (none cut to "≥11…"), in seconds once the bins
// reach a second; a rare slow step (29 s, one waited out an outage) goes into the
// last, open bin instead of stretching the axis so every normal step shares a bar.
void tst_ChartsPanel::durationBinsReadAtAGlance()
{
    OrderTreeModel model;
    fillRecent(model, 40, Kind::Success, 900);
    fillRecent(model, 1, Kind::Success, 29000);
    ChartsPanel panel(&model);
    QSignalSpy refreshed(&panel, &ChartsPanel::refreshed);
    panel.refresh();
    QTRY_COMPARE(refreshed.count(), 1);
    QBarCategoryAxis *axis = minuteAxis(panel.durationChart());
    QVERIFY(axis);
    const QStringList bins = axis->categories();
    QCOMPARE(bins.size(), 12);
    for (const QString &b : bins)
        QVERIFY2(b.size() <= 4, qPrintable(bins.join(QStringLiteral(", "))));
    QCOMPARE(axis->titleText(), QStringLiteral("duration (s)"));
    QCOMPARE(bins.at(9), QStringLiteral("0.9"));
    QCOMPARE(bins.last(), QStringLiteral("≥1.1"));
    // The 900 ms steps have a bar of their own: 40 of each step in bin 0.9.
    const auto series = panel.durationChart()->series();
    QVERIFY(!series.isEmpty());
    const auto *bars = qobject_cast<QAbstractBarSeries *>(series.first());
    QVERIFY(bars);
    for (const QBarSet *set : bars->barSets()) {
        QCOMPARE(int(set->at(9)), 40);
        QCOMPARE(int(set->at(11)), 1); // the slow one, in the open bin
    }
}

// The probe: the count labels were drawn as "..." (03-chart-crop.png, 59c.png).
// Qt Charts cuts a vertical axis' label when the axis height per tick, less the
// label padding, is below the text height: in the dock the charts sit at their
// 220 px minimum, where six intervals did that to every count. At that height,
// as the counts grow from one digit to four, no count label is cut, and the top
// one is drawn whole.
void tst_ChartsPanel::countLabelsStayWholeAsTheyGrow()
{
    OrderTreeModel model;
    ChartsPanel panel(&model);
    panel.resize(1300, 220);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QCOMPARE(panel.durationChart()->size().height(), 220.0);
    QSignalSpy refreshed(&panel, &ChartsPanel::refreshed);
    QVERIFY(refreshed.isValid());
    int total = 0;
    for (int orders : {3, 30, 300, 3000}) {
        fillRecent(model, orders - total);
        total = orders;
        refreshed.clear();
        panel.refresh();
        QTRY_VERIFY(refreshed.count() > 0);
        for (QChart *chart : {panel.durationChart(), panel.outcomeChart()}) {
            QValueAxis *axis = countAxis(chart);
            QVERIFY(axis);
            const QString top = QString::number(qRound(axis->max()));
            QTRY_VERIFY2(drawnTexts(chart).contains(top),
                         qPrintable(QStringLiteral("%1 orders, %2: %3 not among %4")
                                        .arg(orders).arg(chart->title(), top,
                                             drawnTexts(chart).join(QLatin1Char('|')))));
            QVERIFY2(!axis->labelsTruncated(), qPrintable(QStringLiteral("%1 orders, %2").arg(orders).arg(chart->title())));
        }
    }
}

void tst_ChartsPanel::labelsWholeAtTheMinimumHeight_data()
{
    QTest::addColumn<int>("width");
    QTest::addColumn<bool>("legend"); // whole too (narrower, its entries are cut; their tooltips are whole)
    QTest::newRow("in a 1024 px window") << 1000 << false;
    QTest::newRow("in the default window") << 1340 << true;
}

// The probe: in the Charts dock restored at 212 px (and in a 1024x700 window at
// 203 px) every axis label and title read "...", the minutes "10:...". The panel
// is never smaller than its minimum, and at its minimum height every title,
// axis label and legend entry is drawn whole, none over another.
void tst_ChartsPanel::labelsWholeAtTheMinimumHeight()
{
    QFETCH(int, width);
    QFETCH(bool, legend);
    OrderTreeModel model;
    fillRecent(model, 300, Kind::Success, 900); // durations in seconds: "≥1.1"
    fillRecent(model, 40, Kind::PaymentFails, 900);
    ChartsPanel panel(&model);
    const int height = panel.minimumSizeHint().height();
    panel.resize(width, 100);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    QVERIFY2(panel.height() >= height, qPrintable(QString::number(panel.height())));
    panel.resize(width, height);
    QSignalSpy refreshed(&panel, &ChartsPanel::refreshed);
    QVERIFY(refreshed.isValid());
    panel.refresh();
    QTRY_VERIFY(refreshed.count() > 0);
    QCOMPARE(minuteAxis(panel.durationChart())->titleText(), QStringLiteral("duration (s)"));
    for (QChart *chart : {panel.durationChart(), panel.outcomeChart()}) {
        QTRY_VERIFY2(textProblems(chart, legend).isEmpty(),
                     qPrintable(QStringLiteral("%1 at %2x%3: %4")
                                    .arg(chart->title())
                                    .arg(chart->size().width())
                                    .arg(chart->size().height())
                                    .arg(textProblems(chart, legend).join(QStringLiteral("; ")))));
    }
}

QTEST_MAIN(tst_ChartsPanel)
#include "tst_chartspanel.moc"
