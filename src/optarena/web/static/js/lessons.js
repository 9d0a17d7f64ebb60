// The Lessons panel: a guided tour of the article as live races. The lessons are data
// (/static/lessons.json: an id, a title, paragraphs of text and a page state); each is a link in the
// page's own state format, so a lesson is a race the reader can change, copy and share.
import { encodeState } from "./state.js";

// The link of a lesson: its state, marked with the lesson's id so the page shows its text.
export function lessonLink(lesson) {
  return "#s=" + encodeState({ ...lesson.state, lesson: lesson.id });
}

export function createLessons({ $, el, app, onState }) {
  let lessons = [];

  async function load() {
    const res = await fetch("/static/lessons.json");
    if (!res.ok) throw new Error(`lessons: ${res.status}`);
    lessons = (await res.json()).lessons;
    $("lessonList").replaceChildren(...lessons.map((l, i) => el("li", {},
      el("a", { href: lessonLink(l), "data-lesson": l.id, title: "load this lesson's race" }, `${i + 1}. ${l.title}`))));
  }

  // The panel as the state says: open on a lesson's link, with that lesson's text.
  function show(open) {
    const id = app.state.lesson;
    const at = lessons.findIndex((l) => l.id === id);
    const panel = $("lessonPanel");
    if (open !== undefined) panel.hidden = !open;
    else if (at >= 0) panel.hidden = false;
    $("lessonsOpen").classList.toggle("on", !panel.hidden);
    $("lessonsOpen").setAttribute("aria-expanded", String(!panel.hidden));
    $("lessonList").querySelectorAll("a").forEach((a) => a.classList.toggle("on", a.dataset.lesson === id));
    const lesson = lessons[at];
    $("lessonText").replaceChildren(...(lesson ? lesson.text.map((p) => el("p", {}, p)) : [el("p", { class: "hint" },
      "Each lesson loads a race (or a map) with a few lines on what to look for. Change anything afterwards: the race follows.")]));
    $("lessonText").dataset.lesson = lesson ? lesson.id : "";
    const nav = (button, j) => {
      button.hidden = !lesson || j < 0 || j >= lessons.length;
      if (!button.hidden) button.href = lessonLink(lessons[j]);
    };
    nav($("lessonPrev"), at - 1);
    nav($("lessonNext"), at + 1);
  }

  function bind() {
    $("lessonsOpen").addEventListener("click", () => show($("lessonPanel").hidden));
    $("lessonClose").addEventListener("click", () => {
      app.state.lesson = null; // the race stays; only the lesson's text goes
      show(false);
      onState();
    });
  }

  return { load, show, bind, lessons: () => lessons };
}
